"""Small shared building blocks and their name tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl.registry import choose

if TYPE_CHECKING:
    from torch import nn

# name -> (class in torch.nn, its arguments); torch loads when a layer is made, not before
ACTIVATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "relu": ("ReLU", {}),
    "gelu": ("GELU", {}),
    "silu": ("SiLU", {}),
    "mish": ("Mish", {}),
    "leaky_relu": ("LeakyReLU", {"negative_slope": 0.1}),
    "elu": ("ELU", {}),
    "tanh": ("Tanh", {}),
}


def get_activation(name: str) -> nn.Module:
    from torch import nn

    cls, kwargs = choose(ACTIVATIONS, name, "activation")
    return getattr(nn, cls)(**kwargs)
