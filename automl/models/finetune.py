"""A pretrained timm backbone with a new head, frozen to a searched depth.

The config and the builder; the network (`FinetuneNet`, with torch) is in finetune_net.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from automl.errors import ConfigError, WeightsError
from automl.models.freeze import FREEZE_STRATEGIES, apply_freeze
from automl.models.registry import register_model

if TYPE_CHECKING:
    from automl.models.finetune_net import FinetuneNet
    from automl.models.pretrained import Weights


@dataclass(frozen=True)
class FinetuneConfig:
    arch: ClassVar[str] = "finetune"
    backbone: str = "efficientnet_lite0"  # any timm model name
    freeze: str = "head"  # head | bn_head | last_k | full
    trainable_stages: int = 0  # last_k: how many of the last stages train
    head_dropout: float = 0.0
    backbone_lr: float | None = None  # for the unfrozen backbone parts (None: the head's lr)
    pretrained: bool = True  # False trains the same backbone from scratch, as a baseline
    weights: str | None = None  # a local file; None looks in caches and packages

    def __post_init__(self) -> None:
        if self.freeze not in FREEZE_STRATEGIES:
            raise ConfigError(
                f"unknown freeze strategy {self.freeze!r}; choose one of: "
                + ", ".join(FREEZE_STRATEGIES)
            )

    def normalization(self, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """The mean/std the pretrained weights expect; None means "from the training data"."""
        if not self.pretrained:
            return None
        weights = _weights(self.backbone, self.weights)
        if weights.mean is not None and weights.std is not None:
            mean, std = weights.mean, weights.std
        else:
            import timm

            cfg = timm.get_pretrained_cfg(self.backbone).to_dict()
            mean, std = tuple(cfg["mean"]), tuple(cfg["std"])
        if channels == 1:  # grayscale data: the stem's RGB filters are summed by timm
            return (sum(mean) / 3,), (sum(std) / 3,)
        return mean, std

    def check(self) -> None:
        """Fail now, with the one-line reason, if the weights this config needs are missing."""
        if self.pretrained:
            _weights(self.backbone, self.weights)

    def weights_tag(self) -> str:
        return _weights(self.backbone, self.weights).tag if self.pretrained else "scratch"


def _weights(backbone: str, file: str | None) -> Weights:
    from automl.models.pretrained import resolve_weights  # torch loads with it

    return resolve_weights(backbone, file)  # local only: a study fetched them beforehand


@register_model("finetune", FinetuneConfig)
def finetune(
    cfg: FinetuneConfig, num_classes: int, in_chans: int = 3, resolution: int = 224
) -> FinetuneNet:
    import timm

    from automl.models.finetune_net import FinetuneNet

    kwargs = {"num_classes": 0, "in_chans": in_chans}
    if cfg.backbone not in timm.list_models():
        raise ConfigError(f"unknown timm backbone {cfg.backbone!r}; see timm.list_models()")
    if cfg.pretrained:
        weights = _weights(cfg.backbone, cfg.weights)
        try:
            backbone = timm.create_model(
                cfg.backbone, pretrained=True, pretrained_cfg_overlay=weights.overlay, **kwargs
            )
        except (RuntimeError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise WeightsError(
                f"weights from {weights.source} do not fit {cfg.backbone}: {first}"
            ) from None
    else:
        backbone = timm.create_model(cfg.backbone, pretrained=False, **kwargs)
    frozen = apply_freeze(backbone, cfg.freeze, cfg.trainable_stages)
    key = f"{cfg.backbone}:{cfg.weights_tag()}:{in_chans}"
    return FinetuneNet(backbone, num_classes, cfg.head_dropout, frozen, cfg.backbone_lr, key)


def __getattr__(name: str) -> Any:  # the network class, with torch, when it is asked for
    if name == "FinetuneNet":
        from automl.models.finetune_net import FinetuneNet

        return FinetuneNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
