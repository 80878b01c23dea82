"""Exported models against automl's own: same predictions, and how fast a folder is predicted.

For each built-in model family (scratch_cnn, resnet with every norm, resnet_automl with every
norm and automl.nn's convolutions, finetune on efficientnet_lite0), a one-trial study on
hymenoptera at 64 px is searched, finalized and exported to ONNX; the held-out photos are
predicted by model.pt (torch), model.pt2 (torch.export) and model.onnx (onnxruntime), and the
largest probability difference is printed (goal: <= 1e-4). Then the 5-block CNN predicts the
held-out folder, median of 3 wall times each:
- in one process, `automl.predict` through model.pt and through model.onnx (load, decode,
  forward);
- as a user runs it, a whole process: `automl predict --model model.pt`, `automl predict
  --model model.onnx`, and a deployment script that has only onnxruntime, numpy and PIL (no
  torch, no automl; its own PIL resize, so its top-1 agreement with automl is printed too).

Usage: python benchmarks/export.py [--data DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line  # noqa: E402

import automl  # noqa: E402
from automl.exporting import export, load_exported  # noqa: E402
from automl.inference import load_model, read_image  # noqa: E402
from automl.nn import NORMS  # noqa: E402

RESOLUTION = 64
FINETUNE_PINS = {"backbone": "efficientnet_lite0", "freeze": "last_k", "trainable_stages": 1}


def studies(quick: bool) -> list[tuple[str, str, dict]]:
    """(label, space, pins) of every model family to export."""
    rows = [("scratch_cnn (5 blocks)", "scratch_cnn", {})]
    norms = ["batch", "group"] if quick else list(NORMS)
    rows += [(f"resnet, {n}", "resnet", {"norm": n, "n": 1}) for n in norms]
    rows += [(f"resnet_automl, {n}", "resnet_automl", {"norm": n, "n": 1}) for n in norms]
    rows += [("finetune, efficientnet_lite0", "finetune", FINETUNE_PINS)]
    return rows


def held_out(data: Path) -> Path:
    return data / "val" if (data / "val").is_dir() else data / "test"


def max_difference(model_pt: Path, exported: Path, files: list[Path]) -> float:
    loaded = load_model(model_pt, "cpu")
    mine = torch.stack([read_image(f, loaded.resolution, loaded.in_chans) for f in files])
    rgb = torch.stack([read_image(f, loaded.resolution, 3) for f in files])
    other = load_exported(exported)
    return (loaded.probabilities(mine) - other.probabilities(rgb)).abs().max().item()


DEPLOY = """
import json, sys
import numpy as np, onnxruntime as ort
from PIL import Image
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
classes, size = json.loads(meta["classes"]), json.loads(meta["resolution"])
images = np.stack([
    np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR))
    for f in sys.argv[2:]
])
(probs,) = session.run(None, {"images": images})
print(json.dumps([classes[i] for i in probs.argmax(1)]))
"""


def timed_process(argv: list[str], repeats: int = 3) -> tuple[float, str]:
    seconds, out = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), out


def timed_predict(model: Path, files: list[Path], repeats: int = 3) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        automl.predict(model, files, device="cpu")
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def processes(model_pt: Path, onnx_path: Path, files: list[Path]) -> dict:
    """Whole-process wall times: automl predict with each file, and the deployment script."""
    automl_cli = [sys.executable, "-m", "automl", "predict", "--device", "cpu", "--top-k", "1"]
    names = [str(f) for f in files]
    pt_s, pt_out = timed_process([*automl_cli, "--model", str(model_pt), *names])
    onnx_s, _ = timed_process([*automl_cli, "--model", str(onnx_path), *names])
    deploy_s, deploy_out = timed_process([sys.executable, "-c", DEPLOY, str(onnx_path), *names])
    automl_top1 = [line.rsplit(": ", 1)[1].split()[0] for line in pt_out.splitlines()]
    deploy_top1 = json.loads(deploy_out)
    agree = sum(a == b for a, b in zip(automl_top1, deploy_top1, strict=True))
    return {
        "process_automl_model_pt_s": pt_s,
        "process_automl_onnx_s": onnx_s,
        "process_deploy_onnx_s": deploy_s,
        "deploy_top1_agreement": agree / len(files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=REPO.parent / "shared" / "data" / "hymenoptera"
    )
    parser.add_argument("--quick", action="store_true", help="two norms only")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/export.json")
    args = parser.parse_args()
    data = args.data.expanduser().resolve()
    files = sorted(p for p in held_out(data).rglob("*") if p.is_file())
    print(machine_line())
    rows = []
    with tempfile.TemporaryDirectory(prefix="automl-bench-export-") as tmp:
        for i, (label, space, pins) in enumerate(studies(args.quick)):
            name = f"s{i}"
            automl.search(
                space,
                data=data,
                test_dir=held_out(data),
                study=name,
                trials=1,
                epochs=1,
                resolution=RESOLUTION,
                fix=pins or None,
                pruner="none",
                studies_dir=tmp,
                offline=True,
            )
            result = automl.finalize(name, studies_dir=tmp)
            start = time.perf_counter()
            onnx_path = export(name, format="onnx", studies_dir=tmp)
            export_s = time.perf_counter() - start
            pt2_path = result.model_path.with_suffix(".pt2")
            row = {
                "model": label,
                "onnx_vs_torch": max_difference(result.model_path, onnx_path, files),
                "pt2_vs_torch": max_difference(result.model_path, pt2_path, files),
                "export_seconds": export_s,
                "test_accuracy": result.test_accuracy,
            }
            if space == "scratch_cnn":
                row["predict_model_pt_s"] = timed_predict(result.model_path, files)
                row["predict_onnx_s"] = timed_predict(onnx_path, files)
                row.update(processes(result.model_path, onnx_path, files))
            rows.append(row)
            print(
                f"{label:32} onnx {row['onnx_vs_torch']:.1e}  pt2 {row['pt2_vs_torch']:.1e}  "
                f"(export {export_s:.1f} s)",
                flush=True,
            )
    print(f"\nmax abs probability difference on {len(files)} held-out images (goal <= 1e-4):")
    worst = max(max(r["onnx_vs_torch"], r["pt2_vs_torch"]) for r in rows)
    print(f"worst over {len(rows)} models: {worst:.1e}")
    cnn = rows[0]
    ratio = cnn["predict_model_pt_s"] / cnn["predict_onnx_s"]
    print(f"predicting the {len(files)} held-out images with the 5-block CNN (median of 3):")
    print(
        f"  in process, automl.predict: model.pt {cnn['predict_model_pt_s']:.2f} s, "
        f"model.onnx {cnn['predict_onnx_s']:.2f} s (ONNX {ratio:.2f}x the speed)"
    )
    pt_s = cnn["process_automl_model_pt_s"]
    print(
        f"  whole process: automl predict --model model.pt {pt_s:.2f} s, "
        f"--model model.onnx {cnn['process_automl_onnx_s']:.2f} s, "
        f"onnxruntime-only script {cnn['process_deploy_onnx_s']:.2f} s "
        f"({pt_s / cnn['process_deploy_onnx_s']:.2f}x the speed of automl predict with model.pt; "
        f"top-1 agrees with automl on {cnn['deploy_top1_agreement']:.0%})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine_line(), "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
