"""The model file `automl finalize` writes (model.pt): one typed record, read and written here.

It holds the weights and how to rebuild the network: the registry name of a built-in model,
or, for a model that a user's space file registers, that file's path and hash, imported on
load (`space_file=` points at it when it moved). Files written before the record existed
(the same keys) load the same way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from automl.errors import AutoMLError, ModelCodeError, ModelFileError, SpaceError
from automl.io import file_sha256, save_torch
from automl.models import config_from_dict, create_model, is_builtin_model, list_models
from automl.models.interface import without_weights
from automl.train.precision import resolve_device

MODEL_FORMAT = "automl-model/1"


@dataclass(frozen=True)
class ModelFile:
    """What model.pt holds (a dict of these keys and "format", saved with torch.save)."""

    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]  # automl.config.config_to_dict of the trial's config
    classes: list[str]
    resolution: int
    in_chans: int
    mean: list[float]
    std: list[float]
    study: str | None = None
    trial: int | None = None  # number of the trial it was retrained from
    space_file: str | None = None  # the user's space file that registers its model
    space_file_sha256: str | None = None

    @property
    def arch(self) -> str:
        return self.config["model"]["arch"]

    def save(self, path: Path) -> Path:
        blob = {"format": MODEL_FORMAT, **{f.name: getattr(self, f.name) for f in _FIELDS}}
        for key in ("space_file", "space_file_sha256"):  # a built-in model's file has neither
            if blob[key] is None:
                del blob[key]
        return save_torch(path, blob)

    @classmethod
    def read(cls, path: Path) -> ModelFile:
        """The record in `path`; refused in one line when it is not an automl model file."""
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
            raise ModelFileError(
                f"{path} is not an automl model file ({type(exc).__name__})"
            ) from None
        if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
            raise ModelFileError(
                f"{path} is not an automl model file (expected format {MODEL_FORMAT})"
            )
        known = {f.name for f in _FIELDS}
        try:
            return cls(**{k: v for k, v in blob.items() if k in known})
        except TypeError as exc:  # a key missing
            raise ModelFileError(f"{path} holds a model automl cannot rebuild: {exc}") from None


_FIELDS = dataclasses.fields(ModelFile)


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


def model_code(arch: str, space_file: str | None) -> dict:
    """What model.pt records about the code that rebuilds its network: nothing for a built-in
    model, else the user's space file that registers it, and its hash."""
    if is_builtin_model(arch) or space_file is None:
        return {}
    return {"space_file": space_file, "space_file_sha256": file_sha256(Path(space_file))}


def _import_model_code(file: ModelFile, path: Path, space_file: str | Path | None) -> None:
    """Register the model of a user's space file, named by the file or by `space_file`."""
    arch = file.arch
    if arch in list_models():
        return
    from automl.spaces import list_spaces, load_space_file

    list_spaces()  # the bundled spaces may register models too
    if arch in list_models():
        return
    recorded = file.space_file
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
        if file_sha256(where) != file.space_file_sha256:
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
    file = ModelFile.read(path)
    device = resolve_device(device) if isinstance(device, str) else device
    try:
        _import_model_code(file, path, space_file)
        cfg = config_from_dict(file.config)
        model = create_model(
            without_weights(cfg.model),  # the weights are in the file
            num_classes=len(file.classes),
            in_chans=file.in_chans,
            resolution=file.resolution,
        )
        model.load_state_dict(file.state_dict)
    except ModelCodeError:
        raise
    except (AutoMLError, KeyError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"{path} holds a model automl cannot rebuild: {exc}") from None
    model.to(device, memory_format=torch.channels_last).eval()
    shape = (1, -1, 1, 1)
    return LoadedModel(
        model,
        list(file.classes),
        file.resolution,
        file.in_chans,
        torch.tensor(file.mean, device=device).view(shape),
        torch.tensor(file.std, device=device).view(shape),
        device,
        {"study": file.study, "trial": file.trial},
    )
