"""Batch-instance normalisation: Nam & Kim 2018, "Batch-Instance Normalization for Adaptively
Style-Invariant Neural Networks", NeurIPS, arXiv:1805.07925.

    y = (rho * x_batch + (1 - rho) * x_instance) * weight + bias,   rho in [0, 1] per channel

where x_batch and x_instance are x normalised with batch and with per-image statistics. The
gate rho is learned and, as in the paper, clipped to [0, 1] after each optimiser step.

How the clipping happens without touching any training loop: the first time the module is
built, `torch.optim.optimizer.register_optimizer_step_post_hook` installs one global hook that
runs after every `optimizer.step()` of every optimizer (GradScaler's steps included) and clamps
the gates that this optimizer holds, in place. A global hook rather than a per-optimizer one
because the module never sees the optimizer; a projection after the step, as the paper does,
rather than a parametrisation (sigmoid or clamp of a free parameter), which would change the
gradients and let a gate stick at a bound. A gate registers itself (and the hook, if need be)
in every training forward, so copies made without __init__ (deepcopy, unpickling) are covered
too. The forward also uses
the value of clamp(rho, 0, 1) with rho's own gradient (straight through): the identity for a
gate inside [0, 1], and a safeguard for hand-written update loops that never call
`optimizer.step()`. (torch's clamp passes no gradient at the bounds, so a plain clamp would
freeze a gate that starts at 1.)
"""

from __future__ import annotations

import weakref

import torch
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from automl.nn.norm import _check_4d, _Norm, _update, moments

# every gate used in training, by id (a WeakSet would compare tensors with ==, elementwise)
_GATES: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()
_HOOK = None


def _clip_gates(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
    """Global optimizer step post-hook: clamp the optimizer's gates to [0, 1]."""
    if not _GATES:
        return
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    with torch.no_grad():
        for key, gate in list(_GATES.items()):
            if key in held:
                gate.clamp_(0.0, 1.0)


def _install_hook() -> None:
    global _HOOK
    if _HOOK is None:
        _HOOK = register_optimizer_step_post_hook(_clip_gates)


def batch_instance_norm(
    input: Tensor,
    rho: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """rho * batch_norm(x) + (1 - rho) * instance_norm(x), then the affine, in one pass.

    The batch statistics come from the per-image ones (law of total variance), so the input
    is reduced once; the running buffers follow batch_norm's rule."""
    _check_4d(input, "batch_instance_norm")
    n, c, h, w = input.shape
    if h * w <= 1:
        raise ValueError(
            f"Expected more than 1 spatial element per channel, got input size {list(input.shape)}"
        )
    inst_var, inst_mean, centred = moments(input, (2, 3))  # N, C, 1, 1 and x - inst_mean
    if training:
        count = n * h * w
        if count <= 1:
            raise ValueError("Expected more than 1 value per channel when training")
        mean = inst_mean.mean(0, keepdim=True)  # 1, C, 1, 1
        var = inst_var.mean(0, keepdim=True) + (inst_mean - mean).square().mean(0, keepdim=True)
        if running_mean is not None:
            _update(running_mean, mean.flatten(), momentum)
        if running_var is not None:
            _update(running_var, var.flatten() * (count / (count - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_instance_norm in eval mode needs running_mean and running_var")
        mean, var = running_mean.view(1, c, 1, 1), running_var.view(1, c, 1, 1)
    # the value of clamp(rho, 0, 1) with the gradient of rho: torch's clamp passes no gradient
    # at the bounds, which would freeze a gate sitting at 1 (its initial value) for good
    gate = (rho + (rho.detach().clamp(0.0, 1.0) - rho.detach())).view(1, c, 1, 1)
    batch_scale = gate * torch.rsqrt(var + eps)  # 1, C, 1, 1
    inst_scale = (1 - gate) * torch.rsqrt(inst_var + eps)  # N, C, 1, 1
    # x - batch mean = centred + (inst_mean - mean): one full-size tensor serves both halves
    scale = batch_scale + inst_scale
    shift = batch_scale * (inst_mean - mean)
    if weight is not None:
        scale, shift = scale * weight.view(1, c, 1, 1), shift * weight.view(1, c, 1, 1)
    if bias is not None:
        shift = shift + bias.view(1, c, 1, 1)
    return torch.addcmul(shift, centred, scale).to(input.dtype)


class BatchInstanceNorm2d(_Norm):
    """BatchNorm2d's arguments, parameters and buffers (the running statistics belong to the
    batch half) plus `rho` (C,), initialised to `rho_init` (1: pure batch norm, the paper's
    choice) and kept in [0, 1] after every optimizer step (see the module docstring)."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        rho_init: float = 1.0,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        if not 0.0 <= rho_init <= 1.0:
            raise ValueError(f"rho_init {rho_init} is outside [0, 1]")
        self.rho_init = rho_init
        self.rho = nn.Parameter(torch.full((num_features,), float(rho_init)))
        _install_hook()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.constant_(self.rho, self.rho_init)

    def forward(self, x: Tensor) -> Tensor:
        if self.training:  # also covers modules unpickled or copied without __init__
            _install_hook()
            _GATES[id(self.rho)] = self.rho
        factor = self._average_factor()
        track = not self.training or self.track_running_stats
        return batch_instance_norm(
            x,
            self.rho,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            self.training or self.running_mean is None,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return super().extra_repr() + f", rho_init={self.rho_init}"
