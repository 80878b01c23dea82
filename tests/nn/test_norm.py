"""automl.nn's normalisation layers against torch's: forward, gradients (input, weight, bias,
rho), running statistics and state-dict layout, over a few training steps and then eval.

Tolerance: float64, rtol = atol = 1e-10 (measured differences ~1e-15); bf16 autocast checks
use rtol = atol = 2e-2.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from automl.nn import (
    NORMS,
    BatchInstanceNorm2d,
    BatchNorm2d,
    GroupNorm,
    InstanceNorm2d,
    LayerNorm2d,
    get_norm,
    norm_impls,
)
from automl.nn.batch_instance import batch_instance_norm

TOL = {"rtol": 1e-10, "atol": 1e-10}
D = torch.float64


def inputs(step: int, shape=(4, 6, 5, 7), channels_last: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(step)
    x = torch.randn(shape, dtype=D, generator=g) * (1 + step) + step  # shifting statistics
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    return x.requires_grad_()


def assert_same_module(
    mine: nn.Module, ref: nn.Module, steps: int = 3, shape=(4, 6, 5, 7), channels_last=False
) -> None:
    """Train-mode steps then one eval step: outputs, every gradient, every buffer."""
    mine, ref = mine.to(D), ref.to(D)
    assert {k: (v.shape, v.dtype) for k, v in mine.state_dict().items()} == {
        k: (v.shape, v.dtype) for k, v in ref.state_dict().items()
    }
    mine.load_state_dict(ref.state_dict())  # same names and shapes, so this works both ways
    for step in range(steps + 1):
        mine.train(step < steps)
        ref.train(step < steps)
        x = inputs(step, shape, channels_last)
        got, expected = mine(x), ref(x)
        torch.testing.assert_close(got, expected, **TOL)
        grad_out = inputs(100 + step, got.shape).detach()
        wrt = [x, *ref.parameters()]
        got_grads = torch.autograd.grad(got, [x, *mine.parameters()], grad_out)
        for a, e in zip(got_grads, torch.autograd.grad(expected, wrt, grad_out), strict=True):
            torch.testing.assert_close(a, e, **TOL)
        for (name, a), (_, e) in zip(mine.named_buffers(), ref.named_buffers(), strict=True):
            torch.testing.assert_close(a, e, **TOL, msg=f"buffer {name} after step {step}")


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [True, False])
def test_batch_norm(momentum, affine, track):
    kwargs = {"momentum": momentum, "affine": affine, "track_running_stats": track}
    assert_same_module(BatchNorm2d(6, **kwargs), nn.BatchNorm2d(6, **kwargs))


def test_batch_norm_channels_last_and_eps():
    assert_same_module(BatchNorm2d(6, eps=1e-3), nn.BatchNorm2d(6, eps=1e-3), channels_last=True)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [True, False])
def test_instance_norm(affine, track):
    kwargs = {"affine": affine, "track_running_stats": track}
    assert_same_module(InstanceNorm2d(6, **kwargs), nn.InstanceNorm2d(6, **kwargs))


@pytest.mark.parametrize("groups", [1, 2, 3, 6])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(groups, affine):
    assert_same_module(GroupNorm(groups, 6, affine=affine), nn.GroupNorm(groups, 6, affine=affine))


def test_layer_norm_is_over_c_h_w():
    assert_same_module(LayerNorm2d(6), nn.GroupNorm(1, 6), channels_last=True)
    x = inputs(0)
    plain = F.layer_norm(x, x.shape[1:])  # torch's layer norm over (C, H, W), no affine
    torch.testing.assert_close(LayerNorm2d(6, affine=False).to(D)(x), plain, **TOL)


def test_batch_instance_norm_ends_are_batch_and_instance_norm():
    bin_batch = BatchInstanceNorm2d(6, rho_init=1.0)
    ref = nn.BatchNorm2d(6)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-1, 1)
    state = {**ref.state_dict(), "rho": bin_batch.rho.detach()}
    bin_batch = bin_batch.to(D)
    bin_batch.load_state_dict(state)
    ref = ref.to(D)
    for step in range(3):  # rho = 1: batch norm, running statistics included
        x = inputs(step)
        torch.testing.assert_close(bin_batch(x), ref(x), **TOL)
    torch.testing.assert_close(bin_batch.running_var, ref.running_var, **TOL)
    bin_batch.eval()
    ref.eval()
    torch.testing.assert_close(bin_batch(inputs(5)), ref(inputs(5)), **TOL)

    bin_inst = BatchInstanceNorm2d(6, rho_init=0.0).to(D)
    inst = nn.InstanceNorm2d(6, affine=True).to(D)
    x = inputs(1)
    for mode in (True, False):  # rho = 0: instance norm, in training and in eval
        bin_inst.train(mode)
        torch.testing.assert_close(bin_inst(x), inst(x), **TOL)


def official_bin(x, rho, weight, bias, running_mean, running_var, training):
    """Nam & Kim's reference implementation (github.com/hyeonseobnam/Batch-Instance-
    Normalization), torch's F.batch_norm twice."""
    out_bn = F.batch_norm(x, running_mean, running_var, weight * rho, bias, training, 0.1, 1e-5)
    n, c = x.shape[:2]
    out_in = F.batch_norm(
        x.reshape(1, n * c, *x.shape[2:]), None, None, None, None, True, 0.1, 1e-5
    )
    return out_bn + out_in.view_as(x) * (weight * (1 - rho))[None, :, None, None]


def test_batch_instance_norm_matches_the_reference_for_any_rho():
    mine = BatchInstanceNorm2d(6).to(D)
    with torch.no_grad():
        mine.rho.copy_(torch.linspace(0, 1, 6))
        mine.weight.uniform_(0.5, 1.5)
        mine.bias.uniform_(-1, 1)
    params = [mine.rho, mine.weight, mine.bias]
    ref_params = [p.detach().clone().requires_grad_() for p in params]
    ref_mean, ref_var = mine.running_mean.clone(), mine.running_var.clone()
    for step in range(4):
        training = step < 3
        mine.train(training)
        x = inputs(step)
        got = mine(x)
        rho, weight, bias = ref_params
        expected = official_bin(x, rho, weight, bias, ref_mean, ref_var, training)
        torch.testing.assert_close(got, expected, **TOL)
        grad_out = inputs(50 + step).detach()
        got_grads = torch.autograd.grad(got, [x, *params], grad_out)
        expected_grads = torch.autograd.grad(expected, [x, *ref_params], grad_out)
        for a, e in zip(got_grads, expected_grads, strict=True):
            torch.testing.assert_close(a, e, **TOL)
        torch.testing.assert_close(mine.running_mean, ref_mean, **TOL)
        torch.testing.assert_close(mine.running_var, ref_var, **TOL)
    assert int(mine.num_batches_tracked) == 3


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "sgd+scaler"])
def test_rho_stays_in_unit_interval_after_huge_steps(optimizer):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), BatchInstanceNorm2d(4, rho_init=0.5))
    params = model.parameters()
    opt = {
        "sgd": lambda: torch.optim.SGD(params, lr=1e4, momentum=0.9),
        "sgd+scaler": lambda: torch.optim.SGD(params, lr=1e4),
        "adam": lambda: torch.optim.Adam(params, lr=1e3),
        "adamw": lambda: torch.optim.AdamW(params, lr=1e3, weight_decay=0.5),
    }[optimizer]()
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    rho = model[1].rho
    seen = set()
    for step in range(6):
        x = torch.randn(4, 3, 8, 8)
        loss = (model(x) * torch.randn(4, 4, 6, 6)).sum() * (-1) ** step
        opt.zero_grad()
        loss.backward()
        assert rho.grad.abs().sum() > 0
        if optimizer == "sgd+scaler":
            scaler.step(opt)
        else:
            opt.step()
        assert rho.min() >= 0 and rho.max() <= 1, rho  # right after the step
        seen |= {float(v) for v in rho.detach()}
    assert seen & {0.0, 1.0}, "the huge steps should have hit a bound"


def test_rho_clipping_follows_copies_and_spares_other_optimizers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), BatchInstanceNorm2d(4))
    clone = copy.deepcopy(model)  # a copy's gate is clipped once it has trained
    opt = torch.optim.SGD(clone.parameters(), lr=1e4)
    (clone(torch.randn(2, 3, 6, 6)) ** 3).sum().backward()
    opt.step()
    assert clone[1].rho.min() >= 0 and clone[1].rho.max() <= 1
    # an optimizer that does not hold the gate leaves it alone
    other = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with torch.no_grad():
        model[1].rho.fill_(3.0)
    model(torch.randn(2, 3, 6, 6))
    other.step()
    assert float(model[1].rho.detach().max()) == 3.0
    # and the forward uses the clamped gate whatever the stored value
    model.eval()
    x = torch.randn(2, 3, 6, 6)
    clipped = copy.deepcopy(model)
    with torch.no_grad():
        clipped[1].rho.fill_(1.0)
    torch.testing.assert_close(model(x), clipped(x))


@pytest.mark.parametrize("name", sorted(NORMS))
def test_norm_table_torch_and_automl_agree(name):
    assert norm_impls(name) == (["automl"] if name == "batch_instance" else ["torch", "automl"])
    made = [get_norm(name, 6, impl, groups=3).to(D) for impl in norm_impls(name)]
    if len(made) == 2:
        torch_norm, automl_norm = made
        assert type(torch_norm).__module__.startswith(("torch", "automl.nn"))
        if name != "none":
            assert type(automl_norm).__module__.startswith("automl.nn")
        assert_same_module(automl_norm, torch_norm, steps=2)


def test_norm_names_match_the_layers_made():
    """NORMS (names and implementations, no torch needed) lists what the factories make."""
    from automl.nn.norm_table import factories

    assert {name: tuple(impls) for name, impls in factories().items()} == NORMS


def test_norm_table_errors_name_the_choices():
    from automl import ConfigError

    with pytest.raises(ConfigError, match="choose one of: batch, batch_instance, group"):
        get_norm("bn", 8)
    with pytest.raises(
        ConfigError, match="'batch_instance' normalisation 'torch'; choose one of: automl"
    ):
        get_norm("batch_instance", 8, impl="torch")
    with pytest.raises(ConfigError, match="choose one of: automl, torch"):
        get_norm("batch", 8, impl="jax")


@pytest.mark.parametrize("name", ["batch", "instance", "layer", "group", "batch_instance"])
def test_bf16_autocast_keeps_float32_statistics(name):
    torch.manual_seed(0)
    norm = get_norm(name, 8, "automl", groups=4)
    ref = get_norm(name if name != "batch_instance" else "batch", 8, "torch", groups=4)
    x = torch.randn(4, 8, 6, 6).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = torch.nn.functional.relu(x.to(torch.bfloat16))
        got, expected = norm(h), ref(h)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected.float(), rtol=2e-2, atol=2e-2)
    for buffer in ("running_mean", "running_var"):
        if getattr(norm, buffer, None) is not None:
            assert getattr(norm, buffer).dtype == torch.float32
            torch.testing.assert_close(
                getattr(norm, buffer), getattr(ref, buffer), rtol=1e-2, atol=1e-3
            )


def test_errors_like_torch():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm2d(3)(torch.randn(1, 3, 1, 1))
    with pytest.raises(ValueError, match="divisible by num_groups"):
        GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        BatchNorm2d(3)(torch.randn(2, 3))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        batch_instance_norm(torch.randn(2, 3, 1, 1), torch.ones(3), None, None, training=True)
