"""The network of `FinetuneConfig` (finetune.py): built with torch, so loaded when a model is."""

from __future__ import annotations

import torch
from torch import nn

from automl.config import OptimConfig


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
