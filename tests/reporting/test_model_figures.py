"""Model figures on any conv model: what applies is drawn (and right), the rest says why."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from automl import create_model, get_space, list_spaces
from automl.config import with_model_options
from automl.inference import LoadedModel
from automl.models.resnet import ResNetConfig
from automl.nn import Conv2d as AutoConv2d
from automl.reporting.figures import to_png
from automl.reporting.model_figures import (
    NotApplicable,
    activation_maps,
    filters,
    first_conv,
    grad_cam,
    guided_backprop,
    guided_gradients,
    last_feature_map,
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
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(6, 12, 3, padding=1),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 2),
    )  # fmt: skip


def is_png(fig) -> bool:
    return to_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def reference_guided(model: nn.Module, x: torch.Tensor, layer: nn.Module, unit: int):
    """Textbook guided back-propagation: ReLUs pass only positive input gradients."""
    model = model.float().eval()
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
            m.register_full_backward_hook(lambda m, gi, go: (gi[0].clamp(min=0),))
    seen = {}
    layer.register_forward_hook(lambda m, i, o: seen.__setitem__("out", o))
    x = x.clone().requires_grad_(True)
    model(x)
    (grad,) = torch.autograd.grad(seen["out"][0].flatten()[unit], x)
    return seen["out"][0].flatten(), grad[0].numpy()


def test_guided_backprop_matches_the_textbook_one():
    import copy

    m = loaded(plain_convnet())
    image = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    where, units = guided_gradients(m, image)
    assert "last feature map (ReLU)" in where  # the second ReLU, the map the pool reads
    x = m.preprocess(image[None]).float()
    acts = [u.activation for u in units]
    assert len(units) == 10 and acts == sorted(acts, reverse=True) and min(acts) > 0
    for u in units[:3]:
        i, j = u.position
        flat = u.channel * 16 * 16 + i * 16 + j
        ref_model = copy.deepcopy(m.model)
        out, ref = reference_guided(ref_model, x, ref_model[3], flat)
        assert out[flat].item() == pytest.approx(u.activation, rel=1e-5)
        assert out.max().item() == pytest.approx(units[0].activation, rel=1e-5)
        np.testing.assert_allclose(u.gradient, ref, rtol=1e-4, atol=1e-6)
        assert (ref < 0).any() or (ref > 0).any()


def test_generic_conv_model_gets_every_figure():
    m = loaded(plain_convnet())
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    labels = np.array([0, 1, 0, 1])
    preds = predict(m, images)
    assert is_png(filters(m))
    fig = guided_backprop(m, images[0])
    assert len(fig.axes) == 1 + 10  # the input, then 10 rows
    assert is_png(fig)
    cam = grad_cam(m, images, labels, preds, m.classes, [10, 11, 12, 13])
    right, wrong = int((labels == preds).sum()), int((labels != preds).sum())
    assert len(cam.axes) == min(3, right) + min(3, wrong)
    assert "(ReLU, 16x16)" in cam._suptitle.get_text()
    assert is_png(cam)


@pytest.mark.parametrize("conv_impl", ["torch", "automl"])
def test_resnet_targets_the_last_block_not_the_shortcut_conv(conv_impl):
    cfg = ResNetConfig(n=1, width=0.5, conv_impl=conv_impl)
    model = create_model(cfg, num_classes=2, in_chans=3)
    m = loaded(model)
    x = torch.zeros(1, 3, 16, 16)
    assert last_feature_map(model, x) is model.blocks  # what the global pool reads
    stem = model.stem[0]
    assert first_conv(model) is stem
    assert isinstance(stem, AutoConv2d if conv_impl == "automl" else nn.Conv2d)
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    assert is_png(filters(m)) and is_png(activation_maps(m, images[0], "cat"))
    assert is_png(guided_backprop(m, images[0]))
    cam = grad_cam(m, images, np.array([0, 1]), predict(m, images), m.classes, [0, 1])
    assert "(Sequential, 4x4)" in cam._suptitle.get_text()  # 16 px, two stride-2 stages


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
    _, units = guided_gradients(m, images[0])
    assert 1 <= len(units) <= 10 and all(u.activation > 0 for u in units)
    assert all(np.abs(u.gradient).sum() > 0 for u in units)
    for fig in (
        filters(m),
        activation_maps(m, images[0], "cat"),
        guided_backprop(m, images[0]),
        grad_cam(m, images, labels, preds, m.classes, [0, 1, 2, 3]),
    ):
        assert is_png(fig)
