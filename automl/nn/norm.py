"""Batch, instance, layer and group normalisation from tensor reductions and one addcmul.

Every norm takes a mean and a biased variance over some axes, two passes (the mean, then
the mean square of the centred input), then `y = (x - mean) * scale + bias` with
`scale = weight / sqrt(var + eps)`: one addcmul; autograd differentiates through the
statistics. Sums divided by the count rather than `mean`, `xc * xc` rather than `square`, and
no `torch.var_mean`: on the CPU these keep autograd's backward (which never sees a fused
kernel) within ~2x of torch's native batch norm, where the obvious spelling is ~7x slower.
Statistics are computed in float32 at least (float64 stays float64), so bf16 autocast keeps
accurate running buffers; the output has the input's dtype.

Signatures, parameters (`weight`, `bias`) and buffers (`running_mean`, `running_var`,
`num_batches_tracked`) are those of torch's BatchNorm2d, InstanceNorm2d and GroupNorm.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, torch.float32)


def _channel(t: Tensor) -> Tensor:
    """(C,) -> (1, C, 1, 1), to broadcast over (N, C, H, W)."""
    return t.view(1, -1, 1, 1)


def moments(x: Tensor, dims: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
    """(biased variance, mean, x - mean) over `dims` (kept as size-1 dims), float32 at least.

    Two passes: as exact as Welford's single pass (`torch.var_mean`), and on the CPU about
    ten times faster for these shapes."""
    x = x.to(_compute_dtype(x))
    count = math.prod(x.shape[d] for d in dims)
    mean = x.sum(dims, keepdim=True) / count
    centred = x - mean
    return (centred * centred).sum(dims, keepdim=True) / count, mean, centred


def scale_shift(
    centred: Tensor, scale: Tensor, weight: Tensor | None, bias: Tensor | None, dtype: torch.dtype
) -> Tensor:
    """centred * scale * weight + bias, as one addcmul; scale broadcasts as (1 or N, C, 1, 1),
    weight and bias are per channel (C,)."""
    if weight is not None:
        scale = scale * _channel(weight)
    if bias is None:
        return (centred * scale).to(dtype)
    return torch.addcmul(_channel(bias), centred, scale).to(dtype)


def _check_4d(x: Tensor, what: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{what} expects (N, C, H, W) input, got shape {tuple(x.shape)}")


@torch.no_grad()
def _update(running: Tensor, value: Tensor, momentum: float) -> None:
    running.mul_(1 - momentum).add_(value.to(running.dtype), alpha=momentum)


def _with_running(input: Tensor, mean: Tensor, var: Tensor, weight, bias, eps: float) -> Tensor:
    """Normalise with stored (C,) statistics: x * scale + (bias - mean * scale)."""
    scale = torch.rsqrt(_channel(var) + eps)
    if weight is not None:
        scale = scale * _channel(weight)
    shift = -_channel(mean) * scale
    if bias is not None:
        shift = shift + _channel(bias)
    return torch.addcmul(shift, input, scale).to(input.dtype)


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """`torch.nn.functional.batch_norm` for (N, C, H, W): statistics per channel over N, H, W.

    Training uses the batch's statistics and, when given, moves the running buffers towards
    them (the variance unbiased, n/(n-1)); otherwise the running buffers are used."""
    _check_4d(input, "batch_norm")
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm in eval mode needs running_mean and running_var")
        return _with_running(input, running_mean, running_var, weight, bias, eps)
    count = input.numel() // input.shape[1]
    if count <= 1:
        raise ValueError(
            "Expected more than 1 value per channel when training, got input size "
            f"{list(input.shape)}"
        )
    var, mean, centred = moments(input, (0, 2, 3))  # 1, C, 1, 1
    if running_mean is not None:
        _update(running_mean, mean.flatten(), momentum)
    if running_var is not None:
        _update(running_var, var.flatten() * (count / (count - 1)), momentum)
    return scale_shift(centred, torch.rsqrt(var + eps), weight, bias, input.dtype)


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """`torch.nn.functional.instance_norm`: statistics per sample and channel, over H, W.

    With running buffers, they move towards the batch average of the per-instance mean and
    unbiased variance, as torch does; `use_input_stats=False` normalises with them instead."""
    _check_4d(input, "instance_norm")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm without input stats needs running_mean and running_var")
        return _with_running(input, running_mean, running_var, weight, bias, eps)
    count = input.shape[2] * input.shape[3]
    if count <= 1:
        raise ValueError(
            "Expected more than 1 spatial element when training, got input size "
            f"{list(input.shape)}"
        )
    var, mean, centred = moments(input, (2, 3))  # N, C, 1, 1
    if running_mean is not None:
        _update(running_mean, mean.mean((0, 2, 3)), momentum)
    if running_var is not None:
        _update(running_var, var.mean((0, 2, 3)) * (count / (count - 1)), momentum)
    return scale_shift(centred, torch.rsqrt(var + eps), weight, bias, input.dtype)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """`torch.nn.functional.group_norm`: statistics per sample over each group of C/G channels
    and H, W; the affine transform is per channel."""
    _check_4d(input, "group_norm")
    n, c = input.shape[:2]
    if c % num_groups:
        raise ValueError(f"num_channels ({c}) must be divisible by num_groups ({num_groups})")
    # reduce over H, W per channel, then over each group's channels: two cheap reductions
    # where one over a (N, G, C/G, H, W) view is ~5x slower on channels_last input
    x = input.to(_compute_dtype(input))
    count = (c // num_groups) * x.shape[2] * x.shape[3]

    def per_group(t: Tensor) -> Tensor:  # (N, C, H, W) -> group sums, repeated per channel
        sums = t.sum((2, 3), keepdim=True).unflatten(1, (num_groups, -1)).sum(2, keepdim=True)
        return sums.expand(n, num_groups, c // num_groups, 1, 1).reshape(n, c, 1, 1) / count

    centred = x - per_group(x)
    scale = torch.rsqrt(per_group(centred * centred) + eps)
    return scale_shift(centred, scale, weight, bias, input.dtype)


def layer_norm2d(
    input: Tensor, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5
) -> Tensor:
    """Statistics per sample over C, H and W; affine per channel: `group_norm` with one group."""
    return group_norm(input, 1, weight, bias, eps)


class _Norm(nn.Module):
    """What the norms share: per-channel `weight`/`bias` and, optionally, running buffers."""

    def __init__(
        self,
        num_features: int,
        eps: float,
        momentum: float | None,
        affine: bool,
        track_running_stats: bool,
    ) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    def _average_factor(self) -> float:
        """As torch: count the batch, and with momentum None average all batches equally."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        return factor

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm2d(_Norm):
    """`torch.nn.BatchNorm2d`: batch statistics in training, running ones in eval;
    `momentum=None` keeps a cumulative average. Ioffe & Szegedy 2015, arXiv:1502.03167."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, x: Tensor) -> Tensor:
        factor = self._average_factor()
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(
            x,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )


class InstanceNorm2d(_Norm):
    """`torch.nn.InstanceNorm2d` (defaults affine=False, no running stats): each image's
    channels normalised on their own. Ulyanov et al. 2016, arXiv:1607.08022."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, x: Tensor) -> Tensor:
        return instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            0.0 if self.momentum is None else self.momentum,
            self.eps,
        )


class GroupNorm(nn.Module):
    """`torch.nn.GroupNorm(num_groups, num_channels)`: per sample, over groups of channels.
    Wu & He 2018, arXiv:1803.08494."""

    def __init__(
        self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True
    ) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups, self.num_channels, self.eps, self.affine = (
            num_groups,
            num_channels,
            eps,
            affine,
        )
        if affine:
            self.weight = nn.Parameter(torch.ones(num_channels))
            self.bias = nn.Parameter(torch.zeros(num_channels))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LayerNorm2d(GroupNorm):
    """Layer norm of a feature map: per sample over C, H, W, affine per channel (C,). Equal to
    `torch.nn.GroupNorm(1, C)`; not timm's LayerNorm2d, which normalises each pixel over C only.
    Ba, Kiros & Hinton 2016, arXiv:1607.06450."""

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__(1, num_channels, eps, affine)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}, affine={self.affine}"
