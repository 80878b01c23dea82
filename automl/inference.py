"""Behind `automl predict`: load a finalized model.pt, give top-k labels for image files."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from automl.config import config_from_dict
from automl.data.decode import decode_file, resize_square
from automl.errors import AutoMLError, DataError, ModelFileError
from automl.models import create_model
from automl.train.precision import resolve_device

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

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, R, R) -> normalised float on the model's device."""
        x = images.to(self.device, torch.float32) / 255.0
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)


@dataclass(frozen=True)
class Prediction:
    image: str
    top: list[tuple[str, float]]  # (class, probability), most likely first


def load_model(path: str | Path, device: str | torch.device = "auto") -> LoadedModel:
    path = Path(path)
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
        cfg = config_from_dict(blob["config"])
        if "pretrained" in {
            f.name for f in dataclasses.fields(cfg.model)
        }:  # weights are in the file
            cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=False))
        model = create_model(
            cfg.model,
            num_classes=len(blob["classes"]),
            in_chans=blob["in_chans"],
            resolution=blob["resolution"],
        )
        model.load_state_dict(blob["state_dict"])
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
    )


def read_image(path: str | Path, resolution: int, in_chans: int) -> torch.Tensor:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image {path} does not exist")
    img = decode_file(path)
    if img is None:
        raise DataError(f"cannot read {path} as an image (JPEG, PNG, GIF, ...)")
    img = resize_square(img, resolution)
    if in_chans == 1:  # grayscale models (the built-in digits): ITU-R 601 luma
        weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        img = (img.float() * weights).sum(0, keepdim=True).round().clamp(0, 255).byte()
    return img


@torch.no_grad()
def predict(
    model: str | Path | LoadedModel,
    images: Sequence[str | Path],
    top_k: int = 3,
    device: str = "auto",
) -> list[Prediction]:
    loaded = model if isinstance(model, LoadedModel) else load_model(model, device)
    batch = torch.stack([read_image(p, loaded.resolution, loaded.in_chans) for p in images])
    probs = loaded.model(loaded.preprocess(batch)).float().softmax(1).cpu()
    k = max(1, min(top_k, len(loaded.classes)))
    values, indices = probs.topk(k, dim=1)
    return [
        Prediction(str(p), [(loaded.classes[i], float(v)) for v, i in zip(vs, ix, strict=True)])
        for p, vs, ix in zip(images, values.tolist(), indices.tolist(), strict=True)
    ]
