"""A pretrained timm backbone with a new head, frozen to a searched depth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from automl.config import OptimConfig
from automl.errors import ConfigError, WeightsError
from automl.models.freeze import FREEZE_STRATEGIES, apply_freeze
from automl.models.pretrained import Weights, resolve_weights
from automl.models.registry import register_model


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
    return resolve_weights(backbone, file)  # local only: a study fetched them beforehand


class FinetuneNet(nn.Module):
    """backbone (pooled features) -> dropout -> linear; frozen leaves stay in eval mode."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        dropout: float,
        frozen: set[str],
        backbone_lr: float | None,
        feature_key: str,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        # timm: pooled output width, after any pre-logits projection (MobileNetV3's conv_head)
        width = getattr(backbone, "head_hidden_size", None) or backbone.num_features
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))
        self.frozen = frozen
        self.backbone_lr = backbone_lr
        self.feature_key = feature_key  # see train/features.py

    @property
    def frozen_backbone(self) -> bool:
        """Nothing below the head trains, so its features can be computed once."""
        return not any(p.requires_grad for p in self.backbone.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def train(self, mode: bool = True) -> FinetuneNet:
        super().train(mode)
        if mode:  # frozen BN keeps its statistics; frozen dropout/drop-path stay off
            for name, module in self.backbone.named_modules():
                if name in self.frozen:
                    module.eval()
        return self

    def param_groups(self, optim: OptimConfig) -> list[dict]:
        groups = [{"params": list(self.head.parameters()), "lr": optim.lr}]
        trainable = [p for p in self.backbone.parameters() if p.requires_grad]
        if trainable:
            groups.append({"params": trainable, "lr": self.backbone_lr or optim.lr})
        return groups


@register_model("finetune", FinetuneConfig)
def finetune(
    cfg: FinetuneConfig, num_classes: int, in_chans: int = 3, resolution: int = 224
) -> FinetuneNet:
    import timm

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
