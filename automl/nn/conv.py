"""2-D convolution as im2col + matrix multiply, with its backward written the same way.

Forward: pad, take every kh x kw window as a strided *view* (`Tensor.unfold` twice, then a
`::dilation` slice), copy the windows once into a (groups, N*Ho*Wo, kh*kw*C/groups) matrix and
multiply it by the weights, (groups, kh*kw*C/groups, O/groups). For one group the product is
written straight into a channels_last output.

Backward, a custom autograd Function (autograd's own backward of overlapping window views is
a slow scatter): the weight gradient is windows^T @ grad_out (the windows recomputed, not
kept); the input gradient is grad_out @ weights^T, one gradient per window pixel, summed
back onto the padded input with a single `index_add_` over precomputed pixel positions
(col2im), then cropped. Reference: Dumoulin & Visin 2016, "A guide to convolution
arithmetic for deep learning", arXiv:1603.07285.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Pad4 = tuple[int, int, int, int]  # top, bottom, left, right


def _pair(value) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    a, b = value
    return int(a), int(b)


def _padding(padding, kernel: tuple[int, int], dilation: tuple[int, int]) -> Pad4:
    """int | (ph, pw) | "valid" | "same" -> (top, bottom, left, right), as torch pads."""
    if padding == "valid":
        return 0, 0, 0, 0
    if padding == "same":  # torch puts the odd extra pixel at the bottom/right
        total_h, total_w = (d * (k - 1) for d, k in zip(dilation, kernel, strict=True))
        return total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2
    ph, pw = _pair(padding)
    return ph, ph, pw, pw


def _out_size(size: int, pad: int, kernel: int, stride: int, dilation: int) -> int:
    return (size + pad - dilation * (kernel - 1) - 1) // stride + 1


def _windows(x: Tensor, kernel, stride, dilation) -> Tensor:
    """(N, C, H, W) already padded -> (N, C, Ho, Wo, kh, kw), a view: nothing is copied."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    return x.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)[..., ::dh, ::dw]


def _im2col(x: Tensor, kernel, stride, dilation, groups: int) -> Tensor:
    """(groups, N*Ho*Wo, kh*kw*C/groups): the one copy the convolution makes."""
    win = _windows(x, kernel, stride, dilation)
    n, c, ho, wo, kh, kw = win.shape
    win = win.unflatten(1, (groups, c // groups))  # N, G, C/G, Ho, Wo, kh, kw
    return win.permute(1, 0, 3, 4, 5, 6, 2).reshape(groups, n * ho * wo, kh * kw * (c // groups))


def _weight_matrix(weight: Tensor, groups: int) -> Tensor:
    """(O, C/G, kh, kw) -> (G, kh*kw*C/G, O/G), the order _im2col lays the windows out in."""
    o, cg, kh, kw = weight.shape
    w = weight.unflatten(0, (groups, o // groups)).permute(0, 3, 4, 2, 1)
    return w.reshape(groups, kh * kw * cg, o // groups)


def _conv(x: Tensor, weight: Tensor, stride, pad: Pad4, dilation, groups: int) -> Tensor:
    """The forward, with plain tensor ops: pad, im2col, batched matmul, reshape."""
    n = x.shape[0]
    o, _, kh, kw = weight.shape
    top, bottom, left, right = pad
    if any(pad):
        x = F.pad(x, (left, right, top, bottom))
    ho = _out_size(x.shape[2], 0, kh, stride[0], dilation[0])
    wo = _out_size(x.shape[3], 0, kw, stride[1], dilation[1])
    cols = _im2col(x, (kh, kw), stride, dilation, groups)
    weights = _weight_matrix(weight, groups)  # G, K, O/G
    if groups == 1:  # the (N*Ho*Wo, O) product is the output, in channels_last layout
        out = torch.empty((n, o, ho, wo), dtype=cols.dtype, device=cols.device)
        out = out.to(memory_format=torch.channels_last)
        torch.mm(cols[0], weights[0], out=out.permute(0, 2, 3, 1).view(n * ho * wo, o))
        return out
    out = torch.bmm(cols, weights)  # G, N*Ho*Wo, O/G
    out = out.view(groups, n, ho, wo, o // groups).permute(1, 0, 4, 2, 3)
    return out.reshape(n, o, ho, wo)


@lru_cache(maxsize=256)
def _window_index(size, kernel, stride, dilation, device) -> Tensor:
    """Flat (H*W) position of every window pixel, in (Ho, Wo, kh, kw) order, for a padded
    (H, W) input: the scatter that undoes _im2col."""
    (h, w), (kh, kw), (sh, sw), (dh, dw) = size, kernel, stride, dilation
    ho = _out_size(h, 0, kh, sh, dh)
    wo = _out_size(w, 0, kw, sw, dw)
    rows = torch.arange(ho, device=device).view(ho, 1) * sh + torch.arange(kh, device=device) * dh
    cols = torch.arange(wo, device=device).view(wo, 1) * sw + torch.arange(kw, device=device) * dw
    return (rows.view(ho, 1, kh, 1) * w + cols.view(1, wo, 1, kw)).reshape(-1)


def _conv_input_grad(grad: Tensor, weight: Tensor, in_size, stride, pad: Pad4, dilation, groups):
    """d loss / d input: grad_out @ weight^T gives each window's gradient (col2im's input);
    one index_add then sums the windows' overlapping pixels back into the padded input."""
    n, o, ho, wo = grad.shape
    _, cg, kh, kw = weight.shape
    top, bottom, left, right = pad
    h, w = in_size[0] + top + bottom, in_size[1] + left + right
    g = grad.unflatten(1, (groups, o // groups)).permute(1, 0, 3, 4, 2)
    g = g.reshape(groups, n * ho * wo, o // groups)
    cols = torch.bmm(g, _weight_matrix(weight, groups).transpose(1, 2))  # G, N*Ho*Wo, K
    # (G, N, Ho, Wo, kh, kw, C/G) -> (N, Ho*Wo*kh*kw, C): rows of channels, added per pixel
    cols = cols.view(groups, n, ho, wo, kh, kw, cg).permute(1, 2, 3, 4, 5, 0, 6)
    cols = cols.reshape(n, ho * wo * kh * kw, groups * cg)
    index = _window_index((h, w), (kh, kw), tuple(stride), tuple(dilation), grad.device)
    full = grad.new_zeros(n, h * w, groups * cg).index_add_(1, index, cols)
    full = full.view(n, h, w, groups * cg).permute(0, 3, 1, 2)  # channels_last view
    return full[:, :, top : top + in_size[0], left : left + in_size[1]]


def _conv_weight_grad(grad: Tensor, x: Tensor, weight_shape, stride, pad: Pad4, dilation, groups):
    """d loss / d weight = windows^T @ grad_out, per group."""
    o, cg, kh, kw = weight_shape
    top, bottom, left, right = pad
    if any(pad):
        x = F.pad(x, (left, right, top, bottom))
    cols = _im2col(x, (kh, kw), stride, dilation, groups)  # G, N*Ho*Wo, K
    n, _, ho, wo = grad.shape
    g = grad.unflatten(1, (groups, o // groups)).permute(1, 0, 3, 4, 2)
    g = g.reshape(groups, n * ho * wo, o // groups)
    gw = torch.bmm(g.transpose(1, 2), cols)  # G, O/G, kh*kw*C/G
    return gw.view(groups, o // groups, kh, kw, cg).permute(0, 1, 4, 2, 3).reshape(weight_shape)


class _Conv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, pad, dilation, groups):
        ctx.save_for_backward(x, weight)
        ctx.conf = stride, pad, dilation, groups
        ctx.has_bias = bias is not None
        out = _conv(x, weight, stride, pad, dilation, groups)
        return out if bias is None else out + bias.view(1, -1, 1, 1)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, pad, dilation, groups = ctx.conf
        grad_x = grad_w = grad_b = None
        with torch.autocast(grad.device.type, enabled=False):
            grad = grad.to(x.dtype)
            if ctx.needs_input_grad[0]:
                grad_x = _conv_input_grad(grad, weight, x.shape[2:], stride, pad, dilation, groups)
            if ctx.needs_input_grad[1]:
                grad_w = _conv_weight_grad(grad, x, weight.shape, stride, pad, dilation, groups)
            if ctx.has_bias and ctx.needs_input_grad[2]:
                grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None, None


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """Same arguments and result as `torch.nn.functional.conv2d` (4-D input only)."""
    if input.dim() != 4:
        raise ValueError(f"conv2d expects (N, C, H, W) input, got shape {tuple(input.shape)}")
    o, cg, kh, kw = weight.shape
    if input.shape[1] != cg * groups or o % groups:
        raise ValueError(
            f"conv2d: input has {input.shape[1]} channels, weight {tuple(weight.shape)} and "
            f"groups={groups} expect {cg * groups} and out channels divisible by groups"
        )
    stride, dilation = _pair(stride), _pair(dilation)
    pad = _padding(padding, (kh, kw), dilation)
    device = input.device.type
    if torch.is_autocast_enabled(device):  # as torch's conv does: run in the autocast dtype
        dtype = torch.get_autocast_dtype(device)
        input, weight = input.to(dtype), weight.to(dtype)
        bias = None if bias is None else bias.to(dtype)
    with torch.autocast(device, enabled=False):
        return _Conv2dFunction.apply(input, weight, bias, stride, pad, dilation, groups)


class Conv2d(nn.Module):
    """`torch.nn.Conv2d` without `padding_mode`: same arguments, `weight`/`bias`, and init."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                f"divisible by groups ({groups})"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(kernel_size)
        self.stride, self.dilation = _pair(stride), _pair(dilation)
        if padding == "same" and self.stride != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, *self.kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: Kaiming-uniform with a = sqrt(5), bias U(-1/sqrt(fan_in), ...)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}, padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")
