"""A per-channel (depthwise) filter and the blur built on it.

`filter2d` slides one small kernel over every channel on its own: the same result as
`torch.nn.functional.conv2d(x, kernel.expand(C, 1, kh, kw), groups=C)` (or a (C, kh, kw)
kernel, one per channel). With C/groups = 1 a matrix multiply has nothing to multiply, so
instead of im2col it adds the kh*kw shifted, strided views of the input, each scaled by its
tap: kh*kw vectorised multiply-adds over the whole (N, C, Ho, Wo) output.

`Blur2d` is the anti-aliasing low-pass of Zhang 2019, "Making Convolutional Networks
Shift-Invariant Again" (ICML, arXiv:1904.11486): a normalised binomial kernel, reflect padding,
optional stride (blur, then subsample).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automl.nn.conv import _out_size, _padding, _pair

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def filter2d(
    input: Tensor,
    kernel: Tensor,
    stride=1,
    padding=0,
    dilation=1,
    padding_mode: str = "zeros",
) -> Tensor:
    """Filter each channel of (N, C, H, W) with `kernel`, (kh, kw) shared or (C, kh, kw)."""
    if input.dim() != 4:
        raise ValueError(f"filter2d expects (N, C, H, W) input, got shape {tuple(input.shape)}")
    if kernel.dim() not in (2, 3) or (kernel.dim() == 3 and kernel.shape[0] != input.shape[1]):
        raise ValueError(
            f"filter2d needs a (kh, kw) or ({input.shape[1]}, kh, kw) kernel, "
            f"got {tuple(kernel.shape)}"
        )
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"unknown padding_mode {padding_mode!r}; choose one of: {PADDING_MODES}")
    kh, kw = kernel.shape[-2:]
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    top, bottom, left, right = _padding(padding, (kh, kw), (dh, dw))
    if top or bottom or left or right:
        mode = "constant" if padding_mode == "zeros" else padding_mode
        input = F.pad(input, (left, right, top, bottom), mode=mode)
    ho = _out_size(input.shape[2], 0, kh, sh, dh)
    wo = _out_size(input.shape[3], 0, kw, sw, dw)
    taps = kernel.to(input.dtype)
    if taps.dim() == 3:
        taps = taps.unsqueeze(1)  # C, 1, kh, kw: broadcast over N, H, W by channel
    out = None
    for i in range(kh):
        for j in range(kw):
            view = input[
                :,
                :,
                i * dh : i * dh + sh * (ho - 1) + 1 : sh,
                j * dw : j * dw + sw * (wo - 1) + 1 : sw,
            ]
            tap = taps[..., i, j]
            tap = tap.view(1, -1, 1, 1) if tap.dim() else tap
            out = view * tap if out is None else torch.addcmul(out, view, tap)
    return out


def binomial_kernel(size: int) -> Tensor:
    """The normalised outer product of binomial coefficients: 3 -> [1, 2, 1]^2 / 16."""
    row = torch.tensor([math.comb(size - 1, k) for k in range(size)], dtype=torch.float32)
    kernel = torch.outer(row, row)
    return kernel / kernel.sum()


class Blur2d(nn.Module):
    """Binomial low-pass of every channel, then subsampling by `stride` (anti-aliased pooling).
    The kernel is a non-persistent buffer: state dicts stay free of it."""

    def __init__(self, kernel_size: int = 3, stride: int = 1, padding_mode: str = "reflect"):
        super().__init__()
        if kernel_size < 1:
            raise ValueError(f"kernel_size {kernel_size} must be positive")
        self.kernel_size, self.stride, self.padding_mode = kernel_size, stride, padding_mode
        self.register_buffer("kernel", binomial_kernel(kernel_size), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        # "same" padding, the odd pixel of an even kernel at the bottom/right, as Zhang pads
        return filter2d(x, self.kernel, self.stride, "same", padding_mode=self.padding_mode)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding_mode={self.padding_mode}"
        )
