"""Contract: every registered model builds from random configs and runs forward and backward."""

import pytest
import torch

from automl import ConfigError, create_model, get_space, list_models, list_spaces
from automl.config import with_model_options
from automl.models.flops import count_flops, count_params
from automl.models.layers import ACTIVATIONS, get_activation
from automl.models.scratch_cnn import ScratchCNNConfig


@pytest.mark.parametrize("space", list_spaces())
@pytest.mark.parametrize("seed", range(6))
def test_random_configs_build_and_run(space, seed):
    cfg, _ = get_space(space).sample(seed)
    if hasattr(cfg.model, "pretrained"):  # the contract is about shapes, not weights
        cfg = with_model_options(cfg, {"pretrained": False})
    r = 32  # forward cost stays small; resolution is exercised separately below
    model = create_model(cfg.model, num_classes=7, in_chans=3, resolution=r)
    x = torch.randn(2, 3, r, r)
    out = model(x)
    assert out.shape == (2, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("resolution", [8, 32, 48, 96])
@pytest.mark.parametrize("org", ["same", "double", "half"])
def test_scratch_cnn_any_resolution_and_org(resolution, org):
    cfg = ScratchCNNConfig(base_filters=16, filter_org=org)
    model = create_model(cfg, num_classes=3, in_chans=1, resolution=resolution)
    assert model(torch.randn(2, 1, resolution, resolution)).shape == (2, 3)


def test_filter_organisation_stays_in_bounds():
    assert ScratchCNNConfig(base_filters=32, filter_org="same").filters() == [32] * 5
    assert ScratchCNNConfig(base_filters=32, filter_org="double").filters() == [
        32,
        64,
        128,
        256,
        512,
    ]
    assert ScratchCNNConfig(base_filters=64, filter_org="double").filters()[-1] == 512
    assert ScratchCNNConfig(base_filters=16, filter_org="half").filters() == [16, 8, 8, 8, 8]


def test_batch_norm_switch():
    with_bn = create_model(ScratchCNNConfig(batch_norm=True), 2)
    without = create_model(ScratchCNNConfig(batch_norm=False), 2)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in without.modules())


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_table(name):
    assert isinstance(get_activation(name), torch.nn.Module)


def test_bad_choices_list_valid_names():
    with pytest.raises(ConfigError, match="unknown activation 'swish'; choose one of: elu, gelu"):
        ScratchCNNConfig(activation="swish")
    with pytest.raises(ConfigError, match="choose one of: same, double, half"):
        ScratchCNNConfig(filter_org="triple")
    with pytest.raises(ConfigError, match="unknown model"):
        create_model(type("Cfg", (), {"arch": "nope"})(), 2)


def test_flops_match_closed_form():
    """2 k^2 C_in C_out H W per conv (same padding), 2 D_in D_out per dense layer."""
    cfg = ScratchCNNConfig(
        base_filters=8, filter_org="same", kernel_size=3, batch_norm=False, dense_units=16
    )
    model = create_model(cfg, num_classes=10, in_chans=3, resolution=32)
    conv, c_in, side = 0, 3, 32
    for c_out in cfg.filters():
        conv += 2 * 9 * c_in * c_out * side * side
        c_in, side = c_out, side // 2
    dense = 2 * (8 * 1 * 1) * 16 + 2 * 16 * 10
    assert count_flops(model, 3, 32) == conv + dense
    assert count_params(model) == sum(p.numel() for p in model.parameters())


def test_registry_lists_models():
    assert "scratch_cnn" in list_models()


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "tanh"])
def test_pool_before_monotone_activation_changes_nothing(activation):
    torch.manual_seed(0)
    model = create_model(
        ScratchCNNConfig(base_filters=8, activation=activation), 3, resolution=24
    ).eval()
    layers = list(model.features)
    swapped = [
        m
        for i in range(0, len(layers), 4)
        for m in (layers[i], layers[i + 1], layers[i + 3], layers[i + 2])
    ]
    assert isinstance(layers[2], torch.nn.MaxPool2d)  # pool first for monotone activations
    x = torch.randn(2, 3, 24, 24)
    reference = model.head(torch.nn.Sequential(*swapped)(x))
    torch.testing.assert_close(model(x), reference, rtol=0, atol=0)
