"""Behind `automl predict`: load a model file, give top-k labels for image files.

A model.pt (written by `automl finalize`, read in automl/modelfile.py) holds the weights and
how to rebuild the network. A standalone export (model.pt2 beside it, or `automl export`'s
.onnx) needs no automl code.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from automl.data.decode import decode_file, resize_square
from automl.data.files import list_files
from automl.errors import DataError, ModelCodeError
from automl.exporting.formats import RUNNERS, ExportedModel, load_exported
from automl.io import write_bytes
from automl.modelfile import LoadedModel, load_model  # automl.load_model is this one

log = logging.getLogger(__name__)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
CHUNK = 64  # images decoded and classified at a time


@dataclass(frozen=True)
class Prediction:
    image: str
    top: list[tuple[str, float]]  # (class, probability), most likely first; [] if unreadable
    error: str | None = None  # why the image could not be read (with skip_unreadable)


def open_model(
    path: str | Path, device: str = "auto", space_file: str | Path | None = None
) -> LoadedModel | ExportedModel:
    """A model.pt, or an exported .onnx / .pt2. A model.pt whose space file is missing falls
    back to the standalone model.pt2 that `automl finalize` wrote beside it."""
    path = Path(path)
    if path.is_dir() and (path / "model.pt").is_file():  # the finalize folder
        path = path / "model.pt"
    if path.suffix in RUNNERS:
        return load_exported(path)
    try:
        return load_model(path, device, space_file)
    except ModelCodeError as exc:
        standalone = path.with_suffix(".pt2")
        if not standalone.is_file():
            raise
        log.warning("%s; using the standalone %s beside it", exc, standalone.name)
        return load_exported(standalone)


def image_files(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given; each folder replaced by the image files below it (IMAGE_SUFFIXES,
    recursively, hidden ones left out, sorted by path)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = [p for p in list_files(path) if p.suffix.lower() in IMAGE_SUFFIXES]
            if not inside:
                raise DataError(f"folder {path} holds no image files (JPEG, PNG, GIF, ...)")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"image {path} does not exist")
    return found


def read_image(path: str | Path, resolution: int, in_chans: int) -> torch.Tensor:
    path = Path(path)
    if path.is_dir():
        raise DataError(f"image {path} is a folder; predict takes folders, read_image files")
    if not path.is_file():
        raise DataError(f"image {path} does not exist")
    img = decode_file(path)
    if img is None:
        raise DataError(f"image {path} is not an image automl can read (JPEG, PNG, GIF, ...)")
    img = resize_square(img, resolution)
    if in_chans == 1:  # grayscale models (the built-in digits): ITU-R 601 luma
        weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        img = (img.float() * weights).sum(0, keepdim=True).round().clamp(0, 255).byte()
    return img


def predict(
    model: str | Path | LoadedModel | ExportedModel,
    images: Sequence[str | Path],
    top_k: int = 3,
    device: str = "auto",
    space_file: str | Path | None = None,
    skip_unreadable: bool = False,
) -> list[Prediction]:
    """Top-k (class, probability) for each image, with a model.pt, .pt2 or .onnx. `images`
    holds files and folders (every image file below one, sorted). An unreadable file raises
    DataError, or with `skip_unreadable` gets a Prediction with its `error` and no labels."""
    loaded = (
        model
        if isinstance(model, LoadedModel | ExportedModel)
        else open_model(model, device, space_file)
    )
    files = image_files(images)
    k = max(1, min(top_k, len(loaded.classes)))
    results: list[Prediction] = []  # in the order of `files`, a row for each
    for start in range(0, len(files), CHUNK):
        chunk = files[start : start + CHUNK]
        rows: list[Prediction | None] = []
        images = []
        for path in chunk:
            try:
                images.append(read_image(path, loaded.resolution, loaded.in_chans))
                rows.append(None)  # filled in below
            except DataError as exc:
                if not skip_unreadable:
                    raise
                rows.append(Prediction(str(path), [], str(exc)))
        if images:
            values, indices = loaded.probabilities(torch.stack(images)).topk(k, dim=1)
            tops = iter(zip(values.tolist(), indices.tolist(), strict=True))
        for path, row in zip(chunk, rows, strict=True):
            if row is None:
                vs, ix = next(tops)
                top = [(loaded.classes[i], float(v)) for v, i in zip(vs, ix, strict=True)]
                row = Prediction(str(path), top)
            results.append(row)
    return results


def write_predictions_csv(path: str | Path, predictions: Sequence[Prediction]) -> Path:
    """One row per image: image, label_1, probability_1, ..., error (atomically written)."""
    k = max((len(p.top) for p in predictions), default=0)
    header = ["image"] + [f"{c}_{i}" for i in range(1, k + 1) for c in ("label", "probability")]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*header, "error"])
    for p in predictions:
        cells = [x for label, prob in p.top for x in (label, f"{prob:.6f}")]
        writer.writerow([p.image, *cells, *[""] * (2 * k - len(cells)), p.error or ""])
    return write_bytes(Path(path), buffer.getvalue().encode())
