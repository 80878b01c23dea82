"""automl.nn.Conv2d / conv2d / filter2d against torch: the whole case matrix, forward and
gradients (input, weight, bias), in float64.

Tolerance: float64, rtol = atol = 1e-9 (the worst case measured is ~5e-12 on outputs of size
~100; an indexing mistake gives errors of order 1). One test per channel pair or group count,
looping over its 270 cases; all 4,050 run in ~11 s on one thread.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from automl.nn import Blur2d, Conv2d
from automl.nn.blur import binomial_kernel, filter2d
from automl.nn.conv import conv2d

from .cases import CHANNELS, GROUPS, conv_cases

TOL = {"rtol": 1e-9, "atol": 1e-9}
CASES = conv_cases()
FAMILIES = sorted({case.family for case in CASES}, key=[c.family for c in CASES].index)


class RandomPool:
    """Slices of one big random buffer: drawing ~1e8 fresh numbers would cost more than the
    convolutions. Consecutive requests start at different offsets, so no two tensors of a
    case share values in a way that could hide a transposition."""

    def __init__(self, size: int = 1 << 20, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.values = torch.randn(size, dtype=torch.float64, generator=generator)
        self.offset = 0

    def __call__(self, *shape: int) -> torch.Tensor:
        n = math.prod(shape)
        self.offset = (self.offset + 7919) % (len(self.values) - n)
        return self.values[self.offset : self.offset + n].view(shape).clone().requires_grad_()


def test_case_matrix_is_the_full_product():
    assert len(CASES) == 4050
    assert Counter(c.groups for c in CASES) == {1: 2700, **{g: 270 for g in GROUPS}}
    assert {(c.in_channels, c.out_channels) for c in CASES if c.groups == 1} == set(CHANNELS)
    assert {c.kernel for c in CASES} >= {(k, k) for k in range(1, 8)} | {(1, 3), (9, 7)}
    assert {(c.stride, c.dilation, c.bias) for c in CASES} == {
        (s, d, b) for s in (1, 2, 3) for d in (1, 2, 3) for b in (True, False)
    }
    assert len({c.padding for c in CASES}) == 3


@pytest.mark.parametrize("family", FAMILIES)
def test_conv2d_matches_torch_on_the_case_matrix(family, one_thread):
    rand = RandomPool(seed=FAMILIES.index(family))
    failures = []
    for case in (c for c in CASES if c.family == family):
        x = rand(2, case.in_channels, *case.input_size())
        w = rand(*case.weight_shape())
        b = rand(case.out_channels) if case.bias else None
        inputs = [x, w] + ([b] if case.bias else [])
        expected = F.conv2d(x, w, b, **case.kwargs())
        grad_out = rand(*expected.shape).detach()
        expected_grads = torch.autograd.grad(expected, inputs, grad_out)
        got = conv2d(x, w, b, **case.kwargs())
        got_grads = torch.autograd.grad(got, inputs, grad_out)
        names = ("output", "d input", "d weight", "d bias")
        pairs = zip(names, (got, *got_grads), (expected, *expected_grads), strict=False)
        for name, a, e in pairs:  # no bias: three of the four names
            if a.shape != e.shape or not torch.allclose(a, e, **TOL):
                failures.append(f"{case}: {name}")
    assert not failures, f"{len(failures)} mismatches, first: {failures[:3]}"


def test_conv2d_module_is_torch_compatible():
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(6, 8, (3, 5), stride=2, padding=(1, 2), dilation=(1, 2), groups=2)
    torch.manual_seed(0)
    mine = Conv2d(6, 8, (3, 5), stride=2, padding=(1, 2), dilation=(1, 2), groups=2)
    # same init from the same seed, same parameter names and shapes: state dicts move over
    assert {k: v.shape for k, v in mine.state_dict().items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }
    torch.testing.assert_close(mine.weight, ref.weight, rtol=0, atol=0)
    torch.testing.assert_close(mine.bias, ref.bias, rtol=0, atol=0)
    x = torch.randn(2, 6, 11, 13)
    torch.testing.assert_close(mine(x), ref(x), rtol=1e-5, atol=1e-5)  # float32
    no_bias = Conv2d(3, 4, 3, bias=False)
    assert no_bias.bias is None and "bias" not in no_bias.state_dict()


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("kernel, dilation", [((3, 3), 1), ((4, 2), 1), ((2, 5), 2), ((1, 1), 3)])
def test_same_and_valid_padding(kernel, dilation):
    x = torch.randn(2, 3, 9, 10, dtype=torch.float64)
    w = torch.randn(5, 3, *kernel, dtype=torch.float64)
    for padding in ("same", "valid"):
        expected = F.conv2d(x, w, padding=padding, dilation=dilation)
        torch.testing.assert_close(conv2d(x, w, padding=padding, dilation=dilation), expected)


def test_channels_last_and_bf16_autocast_like_torch():
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(8, 16, 3, padding=1)
    mine = Conv2d(8, 16, 3, padding=1)
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(4, 8, 12, 12).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, expected = mine(x), ref(x)
    assert got.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected.float(), rtol=2e-2, atol=2e-2)  # bf16
    got.float().sum().backward()
    assert mine.weight.grad.dtype == torch.float32  # grads land in the parameters' dtype


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(6, 8, 3, groups=4)
    with pytest.raises(ValueError, match="input has 5 channels"):
        conv2d(torch.randn(1, 5, 4, 4), torch.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match="strided"):
        Conv2d(3, 3, 3, stride=2, padding="same")


FILTER_CASES = [
    # (channels, kernel, per-channel kernel?, stride, dilation, padding, padding mode)
    (1, (3, 3), False, 1, 1, 1, "zeros"),
    (4, (3, 3), False, 2, 1, 1, "reflect"),
    (5, (5, 3), True, 1, 2, (4, 2), "zeros"),
    (3, (2, 2), True, 2, 1, "same", "replicate"),
    (8, (7, 7), False, 3, 1, 3, "circular"),
    (6, (1, 4), True, 1, 3, 0, "zeros"),
]


@pytest.mark.parametrize("case", FILTER_CASES)
def test_filter2d_is_a_depthwise_conv(case):
    channels, kernel, per_channel, stride, dilation, padding, mode = case
    rand = RandomPool(seed=channels)
    x = rand(2, channels, 13, 12)
    k = rand(channels, *kernel) if per_channel else rand(*kernel)
    got = filter2d(x, k, stride, padding, dilation, padding_mode=mode)
    weight = (k if per_channel else k.expand(channels, *kernel)).unsqueeze(1)
    if mode == "zeros":
        expected = F.conv2d(x, weight, None, stride, padding, dilation, groups=channels)
    else:  # torch's Conv2d pads this way for the other modes
        if padding == "same":
            total = [dilation * (s - 1) for s in kernel]
            pads = (
                total[1] // 2,
                total[1] - total[1] // 2,
                total[0] // 2,
                total[0] - total[0] // 2,
            )
        else:
            ph, pw = (padding, padding) if isinstance(padding, int) else padding
            pads = (pw, pw, ph, ph)
        expected = F.conv2d(F.pad(x, pads, mode=mode), weight, None, stride, 0, dilation, channels)
    grad_out = rand(*expected.shape).detach()
    torch.testing.assert_close(got, expected, **TOL)
    got_grads = torch.autograd.grad(got, [x, k], grad_out)
    for a, e in zip(got_grads, torch.autograd.grad(expected, [x, k], grad_out), strict=True):
        torch.testing.assert_close(a, e, **TOL)


def test_blur_is_a_normalised_low_pass():
    assert binomial_kernel(3).mul(16).tolist() == [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    blur = Blur2d(3, stride=2)
    flat = torch.full((1, 2, 9, 8), 0.7)
    out = blur(flat)
    assert out.shape == (1, 2, 5, 4)
    torch.testing.assert_close(out, torch.full_like(out, 0.7))  # reflect padding: no dark edge
    assert "kernel" not in blur.state_dict()
    noise = torch.randn(1, 1, 32, 32)
    assert Blur2d(5)(noise).std() < noise.std() / 2
