"""The ResNet-(6n+2) model and its search space."""

from __future__ import annotations

import optuna
import pytest
import torch
from torch import nn

from automl import ConfigError, create_model, get_space
from automl.config import OptimConfig, TrialConfig, config_to_dict
from automl.models import config_from_dict
from automl.models.flops import count_flops
from automl.models.resnet import ResNetConfig
from automl.nn import NORMS, BatchInstanceNorm2d, Conv2d
from automl.train.fit import fit
from automl.train.optim import create_optimizer
from automl.train.precision import resolve_precision

NORM_NAMES = sorted(NORMS)


def layers(model: nn.Module) -> list[nn.Module]:
    """The layers that count towards the depth: 3x3 convolutions and the linear output (the
    1x1 projection shortcuts are not counted, as in the paper)."""
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, Conv2d))]
    return [m for m in convs if m.kernel_size == (3, 3)] + [
        m for m in model.modules() if isinstance(m, nn.Linear)
    ]


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("conv_impl", ["torch", "automl"])
def test_depth_is_6n_plus_2(n, conv_impl):
    cfg = ResNetConfig(n=n, width=0.5, conv_impl=conv_impl)
    model = create_model(cfg, num_classes=10)
    assert len(layers(model)) == 6 * n + 2 == cfg.depth
    shortcuts = [m for m in model.modules() if isinstance(m, (nn.Conv2d, Conv2d))]
    assert sum(m.kernel_size == (1, 1) for m in shortcuts) == 2  # into stages 2 and 3


@pytest.mark.parametrize(
    "width, filters", [(0.5, [8, 16, 32]), (1.0, [16, 32, 64]), (2.0, [32, 64, 128])]
)
@pytest.mark.parametrize("resolution, in_chans", [(32, 3), (64, 1), (8, 3)])
def test_shapes(width, filters, resolution, in_chans):
    cfg = ResNetConfig(n=1, width=width)
    model = create_model(cfg, num_classes=7, in_chans=in_chans, resolution=resolution)
    x = torch.randn(2, in_chans, resolution, resolution)
    assert model(x).shape == (2, 7)
    seen = []  # output of each stage: 16w filters at full size, then halved twice
    model.blocks[0].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model.blocks[1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model.blocks[2].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model(x)
    sides = [resolution, -(-resolution // 2), -(-resolution // 4)]
    assert seen == [(2, f, s, s) for f, s in zip(filters, sides, strict=True)]


@pytest.mark.parametrize("norm", NORM_NAMES)
@pytest.mark.parametrize("impl", ["torch", "automl"])
def test_every_norm_trains(norm, impl):
    torch.manual_seed(0)
    cfg = ResNetConfig(n=1, width=0.5, norm=norm, norm_impl=impl, groups=4)
    model = create_model(cfg, num_classes=3, resolution=16)
    out = model(torch.randn(4, 3, 16, 16))
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    kinds = {
        type(m).__module__.split(".")[0] for m in model.modules() if "Norm" in type(m).__name__
    }
    if norm == "none":
        assert kinds == set()
        assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Conv2d))
    else:
        assert kinds == {"automl" if cfg.norm_impl == "automl" else "torch"}


def test_batch_instance_always_uses_automl_nn():
    cfg = ResNetConfig(norm="batch_instance", norm_impl="torch")
    assert cfg.norm_impl == "automl"
    assert config_from_dict(config_to_dict(TrialConfig(model=cfg))).model == cfg
    model = create_model(cfg, 2)
    assert sum(isinstance(m, BatchInstanceNorm2d) for m in model.modules()) == 1 + 2 * 9 + 2


@pytest.mark.parametrize("norm", ["batch", "instance", "layer", "group", "none"])
def test_torch_and_automl_layers_give_the_same_network(norm):
    """Same state dict, same outputs and gradients: norms and convolutions are drop-ins."""
    torch.manual_seed(0)
    ref = create_model(ResNetConfig(n=1, width=0.5, norm=norm, groups=4), 3).double()
    mine = create_model(
        ResNetConfig(n=1, width=0.5, norm=norm, groups=4, norm_impl="automl", conv_impl="automl"),
        3,
    ).double()
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(4, 3, 12, 12, dtype=torch.float64)
    got, expected = mine(x), ref(x)  # train mode: batch statistics, running buffers move
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    got.square().sum().backward()
    expected.square().sum().backward()
    for (name, a), b in zip(mine.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-9, msg=name)
    for (name, a), b in zip(mine.named_buffers(), ref.buffers(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=name)
    assert count_flops(mine.float(), 3, 12) == count_flops(ref.float(), 3, 12)  # im2col: no extra


def test_rho_stays_in_unit_interval_with_a_huge_learning_rate():
    torch.manual_seed(0)
    model = create_model(ResNetConfig(n=1, width=0.5, norm="batch_instance"), 3, resolution=16)
    optimizer = create_optimizer(model.parameters(), OptimConfig(name="sgd", lr=1e3))
    gates = [m.rho for m in model.modules() if isinstance(m, BatchInstanceNorm2d)]
    for step in range(3):
        loss = nn.functional.cross_entropy(model(torch.randn(8, 3, 16, 16)), torch.arange(8) % 3)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rho = torch.cat([g.detach() for g in gates])
        assert rho.min() >= 0 and rho.max() <= 1, f"step {step}: {rho}"
    assert (rho < 1).any()  # the gates moved, and were clipped, not frozen at their init


def test_rho_learns_and_stays_clipped_in_the_trainer():
    """The automl trainer (bf16 autocast, GradScaler) needs no change for the clipping."""
    torch.manual_seed(0)
    images = torch.randint(0, 256, (48, 3, 16, 16), dtype=torch.uint8)
    labels = torch.arange(48) % 3
    cfg = TrialConfig(
        model=ResNetConfig(n=1, width=0.5, norm="batch_instance"),
        optim=OptimConfig(name="sgd", lr=0.5, scheduler="constant"),
    )
    precision = resolve_precision("auto", torch.device("cpu"))
    result = fit(cfg, (images, labels), None, num_classes=3, epochs=1, precision=precision, seed=0)
    rho = torch.cat([m.rho.detach() for m in result.model.modules() if hasattr(m, "rho")])
    assert rho.min() >= 0 and rho.max() <= 1
    assert (rho < 1).any()


def test_bad_configs_name_the_choices():
    with pytest.raises(ConfigError, match="unknown normalisation 'bn'; choose one of: batch,"):
        ResNetConfig(norm="bn")
    with pytest.raises(ConfigError, match="divisible"):
        ResNetConfig(norm="group", groups=3)
    with pytest.raises(ConfigError, match="convolution implementation"):
        ResNetConfig(conv_impl="cuda")
    with pytest.raises(ConfigError, match="6n"):
        ResNetConfig(n=0)


def test_space_conditionals():
    space = get_space("resnet")
    norms, optimizers = set(), set()
    for seed in range(40):
        cfg, params = space.sample(seed)
        norms.add(params["norm"])
        optimizers.add(params["optimizer"])
        assert ("groups" in params) == (params["norm"] == "group")
        sgd = params["optimizer"] == "sgd"
        assert ("momentum" in params) == sgd and ("nesterov" in params) == sgd
        assert (1e-2 <= cfg.optim.lr <= 0.3) if sgd else (1e-4 <= cfg.optim.lr <= 1e-2)
        assert cfg.model.depth in (8, 14, 20)
        assert cfg.model.norm_impl == ("automl" if params["norm"] == "batch_instance" else "torch")
    assert norms == set(NORMS) and optimizers == {"sgd", "adam", "adamw"}
    cfg, _ = get_space("resnet_automl").sample(0)
    assert cfg.model.norm_impl == "automl"


def test_grid_covers_every_param():
    space = get_space("resnet")
    sampler = optuna.samplers.GridSampler(dict(space.grid), seed=0)
    study = optuna.create_study(sampler=sampler)
    for _ in range(3):
        trial = study.ask()
        space(trial)
        assert set(trial.params) <= set(space.grid)


def test_projection_is_a_strided_1x1_conv_and_survives_odd_batches():
    """The shortcut subsamples, then convolves: the same map as a stride-2 1x1 convolution,
    without the torch 2.14 oneDNN crash (channels_last, 8 input channels, odd batch)."""
    torch.manual_seed(0)
    model = create_model(ResNetConfig(n=1, width=0.5), 3).to(memory_format=torch.channels_last)
    projection = model.blocks[1].shortcut
    x = torch.randn(5, 8, 32, 32).to(memory_format=torch.channels_last)
    strided = nn.functional.conv2d(x.contiguous(), projection.conv.weight, stride=2)
    projection.eval()
    torch.testing.assert_close(projection.conv(x[:, :, ::2, ::2]), strided)
    model(torch.randn(5, 3, 32, 32).to(memory_format=torch.channels_last)).sum().backward()
