"""Writers and readers of the standalone files: ONNX (any ONNX runtime) and pt2 (torch.export's
archive, loaded with `torch.export.load(path).module()`; torch only, no automl).

Both hold the `Standalone` graph (automl/exporting/graph.py) with a dynamic batch dimension and
the same metadata: class names, resolution, input and output layout, study and trial.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from automl.errors import ConfigError, ModelFileError
from automl.exporting.graph import example_input
from automl.io import atomic_path
from automl.registry import choose

EXPORT_FORMAT = "automl-export/1"
EXTRA = "automl.json"  # the metadata's name inside a pt2 archive
EXPORT_EXTRA = "pip install 'automl[export]'"
MAX_BATCH = 4096


def _batch_dim() -> dict:
    return {"images": {0: torch.export.Dim("batch", min=1, max=MAX_BATCH)}}


def write_pt2(module: nn.Module, resolution: int, meta: dict[str, Any], path: Path) -> Path:
    program = torch.export.export(module, (example_input(resolution),), dynamic_shapes=_batch_dim())
    with atomic_path(path) as tmp:
        torch.export.save(program, tmp, extra_files={EXTRA: json.dumps(meta)})
    return path


def write_onnx(module: nn.Module, resolution: int, meta: dict[str, Any], path: Path) -> Path:
    try:
        import onnx
        import onnxscript  # noqa: F401  torch's exporter needs it
    except ImportError:
        need = f"ONNX export needs the onnx and onnxscript packages: {EXPORT_EXTRA}"
        raise ConfigError(need) from None
    with atomic_path(path) as tmp:
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter narrates its steps
            torch.onnx.export(
                module,
                (example_input(resolution),),
                str(tmp),
                input_names=["images"],
                output_names=["probabilities"],
                dynamic_shapes=_batch_dim(),
                external_data=False,
                dynamo=True,
            )
        proto = onnx.load(str(tmp))
        onnx.helper.set_model_props(proto, {k: json.dumps(v) for k, v in meta.items()})
        onnx.save(proto, str(tmp))
    return path


WRITERS: dict[str, Callable[[nn.Module, int, dict[str, Any], Path], Path]] = {
    "onnx": write_onnx,
    "pt2": write_pt2,
}
SUFFIXES = {"onnx": ".onnx", "pt2": ".pt2"}


def get_writer(fmt: str) -> Callable[[nn.Module, int, dict[str, Any], Path], Path]:
    return choose(WRITERS, fmt, "export format")


@dataclass
class ExportedModel:
    """A standalone file, loaded: `probabilities(uint8 (N, R, R, 3))` -> (N, classes)."""

    path: Path
    classes: list[str]
    resolution: int
    run: Callable[[torch.Tensor], torch.Tensor]

    in_chans = 3  # exported files take RGB and convert inside

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, R, R), as automl's decoder gives, -> (N, classes)."""
        pixels = images.permute(0, 2, 3, 1).contiguous()
        return torch.cat([self.run(chunk) for chunk in pixels.split(MAX_BATCH)])


def _onnx_runner(path: Path) -> tuple[dict[str, Any], Callable]:
    try:
        import onnxruntime as ort
    except ImportError:
        need = f"{path} is an ONNX file; running it needs onnxruntime: {EXPORT_EXTRA}"
        raise ConfigError(need) from None
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelFileError(f"{path} is not a readable ONNX file ({type(exc).__name__})") from None
    props = session.get_modelmeta().custom_metadata_map
    try:
        meta = {
            k: json.loads(v) for k, v in props.items() if k in ("format", "classes", "resolution")
        }
    except json.JSONDecodeError:
        meta = {}

    def run(images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"images": images.numpy()})[0])

    return meta, run


def _pt2_runner(path: Path) -> tuple[dict[str, Any], Callable]:
    extra = {EXTRA: ""}
    try:
        program = torch.export.load(path, extra_files=extra)
    except Exception as exc:  # a foreign or truncated archive fails in many ways
        why = f"{path} is not a readable pt2 archive ({type(exc).__name__})"
        raise ModelFileError(why) from None
    module = program.module()
    try:
        meta = json.loads(extra[EXTRA] or "{}")
    except json.JSONDecodeError:
        meta = {}

    @torch.no_grad()
    def run(images: torch.Tensor) -> torch.Tensor:
        return module(images)

    return meta, run


RUNNERS = {".onnx": _onnx_runner, ".pt2": _pt2_runner}


def load_exported(path: str | Path) -> ExportedModel:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist; run `automl export` first")
    meta, run = choose(RUNNERS, path.suffix, "exported file type")(path)
    try:
        if meta.get("format") != EXPORT_FORMAT:
            raise KeyError("format")
        return ExportedModel(path, list(meta["classes"]), int(meta["resolution"]), run)
    except (KeyError, TypeError, ValueError):
        raise ModelFileError(
            f"{path} was not written by `automl export` (expected format {EXPORT_FORMAT})"
        ) from None
