"""`automl export`: a finalized model as one file that runs without automl.

    path = automl.export("demo", format="onnx")  # studies/demo/final/model.onnx

The file takes uint8 RGB images (N, R, R, 3) at the model's resolution and returns class
probabilities (N, classes); class names and resolution are in its metadata. See
docs/export.md for running it with onnxruntime or torch alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

from automl.errors import AutoMLError, ModelFileError
from automl.exporting.formats import EXPORT_FORMAT, SUFFIXES, get_writer, load_exported
from automl.exporting.graph import Standalone
from automl.settings import STUDIES_DIR, Workspace

__all__ = ["export", "load_exported", "write_standalone"]

log = logging.getLogger(__name__)


def write_standalone(loaded, path: Path, fmt: str = "pt2") -> Path:
    """Write a loaded model.pt (`automl.modelfile.LoadedModel`) as a standalone file."""
    writer = get_writer(fmt)
    mean, std = loaded.mean.flatten().tolist(), loaded.std.flatten().tolist()
    module = Standalone(loaded.model, mean, std, loaded.in_chans)
    meta = {
        "format": EXPORT_FORMAT,
        "classes": list(loaded.classes),
        "resolution": loaded.resolution,
        "input": f"uint8 RGB (N, {loaded.resolution}, {loaded.resolution}, 3)",
        "output": f"probabilities (N, {len(loaded.classes)})",
        **{k: v for k, v in loaded.info.items() if v is not None},
    }
    try:
        return writer(module, loaded.resolution, meta, Path(path))
    except AutoMLError:
        raise
    except Exception as exc:  # torch.export / torch.onnx fail in many ways on odd graphs
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        arch = type(loaded.model).__name__
        raise ModelFileError(
            f"cannot export {arch} as {fmt}: {type(exc).__name__}: {first}"
        ) from None


def export(
    study: str,
    *,
    format: str = "onnx",
    out: str | Path | None = None,
    studies_dir: str | Path = STUDIES_DIR,
    space_file: str | Path | None = None,
    storage: str | None = None,
) -> Path:
    """Export the study's finalized model to `out` (default: model.<format> beside its
    model.pt) and return the path written. `space_file`: where the user's space file that
    defines the model is now, if it moved; `storage`: where the study lives, when not in its
    default database (the study must be there)."""
    from automl.modelfile import load_model
    from automl.study.storage import load_study

    get_writer(format)  # a bad name fails before any loading
    workspace = Workspace(studies_dir, storage)
    if storage is not None:
        load_study(study, storage)  # a wrong URL or study name: one line, as every command
    source = workspace.paths.final(study) / "model.pt"
    if not source.is_file():
        raise ModelFileError(
            f"study {study!r} has no finalized model at {source}; "
            f"run `automl finalize --study {study}` first"
        )
    loaded = load_model(source, "cpu", space_file)
    path = Path(out) if out else source.with_suffix(SUFFIXES[format])
    log.info("exporting %s to %s", source, path)
    return write_standalone(loaded, path, format)
