"""Small shared building blocks and their name tables."""

from __future__ import annotations

from functools import partial

from torch import nn

from automl.registry import choose

ACTIVATIONS: dict[str, type[nn.Module] | partial] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "mish": nn.Mish,
    "leaky_relu": partial(nn.LeakyReLU, negative_slope=0.1),
    "elu": nn.ELU,
    "tanh": nn.Tanh,
}


def get_activation(name: str) -> nn.Module:
    return choose(ACTIVATIONS, name, "activation")()
