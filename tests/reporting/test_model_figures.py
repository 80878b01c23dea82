"""Model figures on models other than scratch_cnn: what applies is drawn, the rest says why."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from automl import create_model, get_space, list_spaces
from automl.config import with_model_options
from automl.inference import LoadedModel
from automl.reporting.figures import to_png
from automl.reporting.model_figures import (
    NotApplicable,
    activation_maps,
    filters,
    grad_cam,
    guided_backprop,
    last_conv_block,
    predict,
)


def loaded(model: nn.Module, chans: int = 3) -> LoadedModel:
    shape = (1, -1, 1, 1)
    return LoadedModel(
        model.eval(), ["cat", "dog"], 16, chans, torch.zeros(chans).view(shape),
        torch.ones(chans).view(shape), torch.device("cpu"),
    )  # fmt: skip


def plain_convnet() -> nn.Module:  # no `features` attribute, like a timm/resnet backbone
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.GELU(), nn.Conv2d(6, 12, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 2),
    )  # fmt: skip


def is_png(fig) -> bool:
    return to_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_generic_conv_model_gets_filters_guided_backprop_and_grad_cam():
    m = loaded(plain_convnet())
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    labels = np.array([0, 1, 0, 1])
    preds = predict(m, images)
    assert last_conv_block(m.model) is m.model[2]
    assert is_png(filters(m))
    fig = guided_backprop(m, images[0])
    assert len(fig.axes) == 1 + 10  # input + 10 of its 12 channels
    assert is_png(fig)
    cam = grad_cam(m, images, labels, preds, m.classes, [10, 11, 12, 13])
    right, wrong = int((labels == preds).sum()), int((labels != preds).sum())
    assert len(cam.axes) == min(3, right) + min(3, wrong)
    assert is_png(cam)


def test_a_model_without_convolutions_is_not_applicable():
    mlp = loaded(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2)))
    images = torch.zeros(2, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(NotApplicable, match="no 2-D convolution"):
        filters(mlp)
    with pytest.raises(NotApplicable, match="no 2-D convolution"):
        guided_backprop(mlp, images[0])
    with pytest.raises(NotApplicable, match="no 2-D convolution"):
        grad_cam(mlp, images, np.array([0, 1]), np.array([0, 0]), mlp.classes, [0, 1])


@pytest.mark.parametrize(
    ("space", "seed", "fixed"),
    [(space, seed, None) for space in list_spaces() for seed in range(2)]
    + [("finetune", 0, {"backbone": "resnet18", "freeze": "head"})],  # frozen: no grad below
)
def test_every_space_gets_every_model_figure(space, seed, fixed):
    """Contract over the space registry (in-place activations, timm's own layers, automl.nn)."""
    cfg, _ = get_space(space).sample(seed, fixed=fixed)
    if hasattr(cfg.model, "pretrained"):
        cfg = with_model_options(cfg, {"pretrained": False})
    torch.manual_seed(seed)
    m = loaded(create_model(cfg.model, num_classes=2, in_chans=3, resolution=32), chans=3)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    labels = np.array([0, 1, 0, 1])
    preds = predict(m, images)
    guided = guided_backprop(m, images[0])
    for fig in (
        filters(m),
        activation_maps(m, images[0], "cat"),
        guided,
        grad_cam(m, images, labels, preds, m.classes, [0, 1, 2, 3]),
    ):
        assert is_png(fig)
    seen = {}
    block = last_conv_block(m.model)
    handle = block.register_forward_hook(lambda mod, i, o: seen.__setitem__("c", o.shape[1]))
    m.model(m.preprocess(images[:1]))
    handle.remove()
    assert len(guided.axes) == 1 + min(10, seen["c"])  # the input, then one row per neuron
