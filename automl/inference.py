"""Behind `automl predict`: load a model file, give top-k labels for image files.

A model.pt (written by `automl finalize`) holds the weights and how to rebuild the network:
the registry name of a built-in model, or, for a model that a user's space file registers,
that file's path and hash, imported on load (`space_file=` points at it when it moved). A
standalone export (model.pt2 beside it, or `automl export`'s .onnx) needs no automl code.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from automl.data.decode import decode_file, resize_square
from automl.data.files import list_files
from automl.errors import AutoMLError, DataError, ModelCodeError, ModelFileError, SpaceError
from automl.exporting.formats import RUNNERS, ExportedModel, load_exported
from automl.io import file_sha256, write_bytes
from automl.models import config_from_dict, create_model, is_builtin_model, list_models
from automl.models.interface import without_weights
from automl.train.precision import resolve_device

log = logging.getLogger(__name__)

MODEL_FORMAT = "automl-model/1"


@dataclass
class LoadedModel:
    model: nn.Module
    classes: list[str]
    resolution: int
    in_chans: int
    mean: torch.Tensor  # (1, C, 1, 1)
    std: torch.Tensor
    device: torch.device
    info: dict = dataclasses.field(default_factory=dict)  # study, trial

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, R, R) -> normalised float on the model's device."""
        x = images.to(self.device, torch.float32) / 255.0
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, R, R) -> class probabilities (N, classes) on the CPU."""
        return self.model(self.preprocess(images)).float().softmax(1).cpu()


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
CHUNK = 64  # images decoded and classified at a time


@dataclass(frozen=True)
class Prediction:
    image: str
    top: list[tuple[str, float]]  # (class, probability), most likely first; [] if unreadable
    error: str | None = None  # why the image could not be read (with skip_unreadable)


def model_code(arch: str, space_file: str | None) -> dict:
    """What model.pt records about the code that rebuilds its network: nothing for a built-in
    model, else the user's space file that registers it, and its hash."""
    if is_builtin_model(arch) or space_file is None:
        return {}
    return {"space_file": space_file, "space_file_sha256": file_sha256(Path(space_file))}


def _import_model_code(blob: dict, path: Path, space_file: str | Path | None) -> None:
    """Register the model of a user's space file, named by the file or by `space_file`."""
    arch = blob["config"]["model"]["arch"]
    if arch in list_models():
        return
    from automl.spaces import list_spaces, load_space_file

    list_spaces()  # the bundled spaces may register models too
    if arch in list_models():
        return
    recorded = blob.get("space_file")
    where = Path(space_file).expanduser() if space_file else None
    if where is None:
        if recorded is None:
            raise ModelCodeError(
                f"{path} holds model {arch!r}, which no code here registers; "
                "pass --space-file PATH of the space file that defines it"
            )
        where = Path(recorded)
        if not where.is_file():
            raise ModelCodeError(
                f"{path} holds model {arch!r} from space file {recorded}, which is not there "
                "any more; pass --space-file PATH where it is now"
            )
        if file_sha256(where) != blob.get("space_file_sha256"):
            raise ModelCodeError(
                f"{path} holds model {arch!r} from space file {recorded}, which changed since "
                "the model was saved; pass --space-file PATH of the version that made it "
                "(or of this one, to try it)"
            )
    elif not where.is_file():
        raise ModelCodeError(f"space file {where} does not exist; pass --space-file PATH")
    try:
        load_space_file(where)
    except SpaceError as exc:
        raise ModelCodeError(f"{path} holds model {arch!r}, but {exc}") from None
    if arch not in list_models():
        raise ModelCodeError(
            f"space file {where} does not register model {arch!r} that {path} holds; "
            "pass --space-file PATH of the file that does"
        )


def load_model(
    path: str | Path, device: str | torch.device = "auto", space_file: str | Path | None = None
) -> LoadedModel:
    """Rebuild the network a model.pt holds; `space_file` points at the user's space file that
    defines its model when it moved (built-in models need none)."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(
            f"model path {path} is a folder without model.pt; pass a model file, or the "
            "final/ folder `automl finalize` wrote"
        )
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist; run `automl finalize` first")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load of foreign bytes can fail in many ways
        raise ModelFileError(f"{path} is not an automl model file ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path} is not an automl model file (expected format {MODEL_FORMAT})")
    device = resolve_device(device) if isinstance(device, str) else device
    try:
        _import_model_code(blob, path, space_file)
        cfg = config_from_dict(blob["config"])
        model = create_model(
            without_weights(cfg.model),  # the weights are in the file
            num_classes=len(blob["classes"]),
            in_chans=blob["in_chans"],
            resolution=blob["resolution"],
        )
        model.load_state_dict(blob["state_dict"])
    except ModelCodeError:
        raise
    except (AutoMLError, KeyError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"{path} holds a model automl cannot rebuild: {exc}") from None
    model.to(device, memory_format=torch.channels_last).eval()
    shape = (1, -1, 1, 1)
    return LoadedModel(
        model,
        list(blob["classes"]),
        blob["resolution"],
        blob["in_chans"],
        torch.tensor(blob["mean"], device=device).view(shape),
        torch.tensor(blob["std"], device=device).view(shape),
        device,
        {"study": blob.get("study"), "trial": blob.get("trial")},
    )


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
