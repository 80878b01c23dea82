"""Figures that need the finalized model: prediction grid, first-layer filters and activations,
guided back-propagation on the last conv block, Grad-CAM. Works on any conv model; what does
not apply to a model raises NotApplicable with the reason."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from automl.inference import LoadedModel
from automl.reporting.figures import new_figure


class NotApplicable(Exception):
    """This figure does not apply to this model (the message says why)."""


def _show(ax, img: np.ndarray, **kw) -> None:
    """img (C, H, W) float or uint8 -> imshow, gray for one channel."""
    img = np.asarray(img, dtype=float)
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap=kw.pop("cmap", "gray"), **kw)
    else:
        lo, hi = img.min(), img.max()
        ax.imshow(np.transpose((img - lo) / (hi - lo + 1e-12), (1, 2, 0)), **kw)
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(n: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


@torch.no_grad()
def predict(loaded: LoadedModel, images: torch.Tensor) -> np.ndarray:
    return loaded.model(loaded.preprocess(images)).float().argmax(1).cpu().numpy()


def prediction_grid(images: torch.Tensor, labels, preds, classes, indices):
    """10 rows x 3 columns of held-out images, titled true / predicted; wrong ones in red."""
    n = len(images)
    rows, cols = math.ceil(n / 3), 3
    fig = new_figure(7.5, 2.3 * rows)
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        _show(ax, images[i].numpy())
        ok = labels[i] == preds[i]
        ax.set_title(
            f"#{indices[i]} true: {classes[labels[i]]}\npred: {classes[preds[i]]}"
            + ("" if ok else "  (wrong)"),
            fontsize=9,
            color="darkgreen" if ok else "red",
        )
        for spine in ax.spines.values():
            spine.set_edgecolor("darkgreen" if ok else "red")
            spine.set_linewidth(3)
    fig.suptitle("Held-out images: true and predicted class (green correct, red wrong)")
    return fig


def first_conv(model: nn.Module) -> nn.Conv2d:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m
    raise NotApplicable("the model has no 2-D convolution")


def last_conv_block(model: nn.Module) -> nn.Module:
    """scratch_cnn: the output of `model.features` (conv5 after its norm, activation, pool);
    other models: the last Conv2d."""
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential):
        return features
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise NotApplicable("the model has no 2-D convolution")
    return convs[-1]


def filters(loaded: LoadedModel):
    conv = first_conv(loaded.model)
    w = conv.weight.detach().float().cpu().numpy()  # (m, c, k, k)
    if w.shape[1] not in (1, 3):
        w = w.mean(1, keepdims=True)
    rows, cols = _grid(len(w))
    fig = new_figure(1.1 * cols + 1, 1.1 * rows + 0.8)
    for i, f in enumerate(w):
        _show(fig.add_subplot(rows, cols, i + 1), f)
    fig.suptitle(
        f"First conv layer: {len(w)} filters of {w.shape[-1]}x{w.shape[-1]} "
        f"({'RGB' if w.shape[1] == 3 else 'one channel'}, each scaled to its own range)"
    )
    return fig


@torch.no_grad()
def activation_maps(loaded: LoadedModel, image: torch.Tensor, label: str):
    conv = first_conv(loaded.model)
    seen = {}
    handle = conv.register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    try:
        loaded.model(loaded.preprocess(image[None]))
    finally:
        handle.remove()
    maps = seen["out"][0].float().cpu().numpy()
    rows, cols = _grid(len(maps))
    fig = new_figure(1.1 * cols + 1, 1.1 * rows + 1.2)
    ax = fig.add_subplot(rows + 1, cols, 1)
    _show(ax, image.numpy())
    ax.set_title("input", fontsize=8)
    for i, a in enumerate(maps):
        _show(fig.add_subplot(rows + 1, cols, cols + i + 1), a[None], cmap="viridis")
    fig.suptitle(f"First conv layer activations for one held-out image (true class {label})")
    return fig


class _Guided(torch.autograd.Function):
    """y = act(x); backward passes only positive gradients through positive local slopes
    (exactly guided back-propagation for ReLU)."""

    @staticmethod
    def forward(ctx, x, act):
        with torch.enable_grad():
            xd = x.detach().requires_grad_(True)
            y = act(xd.clone())  # the clone lets in-place activations (ReLU(inplace=True)) run
            (slope,) = torch.autograd.grad(y.sum(), xd)
        ctx.save_for_backward(slope)
        return y.detach()

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return grad.clamp(min=0) * slope.clamp(min=0), None


class _GuidedAct(nn.Module):
    def __init__(self, act: nn.Module):
        super().__init__()
        self.act = act

    def forward(self, x):
        return _Guided.apply(x, self.act)


# Activation layers, by class name so that timm's own (timm.layers.activations) count too;
# gates (sigmoid, hard sigmoid in squeeze-excite blocks) are left as they are.
ACTS = frozenset(
    {"ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "CELU", "SELU", "GELU", "GELUTanh",
     "QuickGELU", "SiLU", "Swish", "Mish", "HardMish", "Hardswish", "HardSwish", "Tanh"}
)  # fmt: skip


def _guided_copy(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model).float().eval()
    guided = 0
    for m in list(model.modules()):
        for child_name, child in list(m.named_children()):
            if type(child).__name__ in ACTS:
                setattr(m, child_name, _GuidedAct(child))
                guided += 1
    if not guided:
        raise NotApplicable("the model has no activation layer to guide")
    return model


def _gradient_image(g: np.ndarray) -> np.ndarray:
    """(C, H, W) input gradient -> values in [0, 1] for display. Colour: centred and scaled
    by its standard deviation around mid-grey; one channel: the positive part over its 99th
    percentile. (Min-max scaling of signed gradients leaves a flat grey.)"""
    if g.shape[0] == 1:
        pos = np.maximum(g, 0)
        return np.clip(pos / (np.percentile(pos, 99) + 1e-12), 0, 1)
    return np.clip(0.5 + 0.15 * (g - g.mean()) / (g.std() + 1e-12), 0, 1)


def guided_backprop(loaded: LoadedModel, image: torch.Tensor, neurons: int = 10):
    """The `neurons` most active channels of the last conv block for `image`; for each, the
    input gradient of its strongest spatial unit under guided back-propagation."""
    last_conv_block(loaded.model)  # no convolution: not applicable, before anything else
    model = _guided_copy(loaded.model)
    block = last_conv_block(model)
    seen = {}
    handle = block.register_forward_hook(lambda m, i, o: seen.__setitem__("out", o))
    x = loaded.preprocess(image[None]).float().contiguous().requires_grad_(True)
    try:
        model(x)
    finally:
        handle.remove()
    out = seen["out"][0]  # (C, H, W)
    peak = out.flatten(1).max(1).values
    chans = peak.argsort(descending=True)[: min(neurons, len(peak))].tolist()
    rows = len(chans) + 1  # the input, then a 10 x 1 grid: one row per neuron
    fig = new_figure(4.2, 1.55 * rows + 0.6)
    ax = fig.add_subplot(rows, 1, 1)
    _show(ax, image.numpy())
    ax.set_ylabel("input", rotation=0, ha="right", va="center", fontsize=10)
    for j, c in enumerate(chans):
        flat = out[c].flatten().argmax()
        (grad,) = torch.autograd.grad(out[c].flatten()[flat], x, retain_graph=True)
        ax = fig.add_subplot(rows, 1, j + 2)
        _show(ax, _gradient_image(grad[0].detach().cpu().numpy()))
        ax.set_ylabel(
            f"channel {c}\nactivation {peak[c].item():.2f}",
            rotation=0,
            ha="right",
            va="center",
            fontsize=10,
        )
    fig.suptitle(
        f"Guided back-propagation:\n{len(chans)} most active neurons\nof the last conv block",
        fontsize=11,
    )
    return fig


def grad_cam(loaded: LoadedModel, images, labels, preds, classes, indices, per_kind: int = 3):
    model = copy.deepcopy(loaded.model).float().eval()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise NotApplicable("the model has no 2-D convolution")
    target = convs[-1]
    right = [i for i in range(len(labels)) if labels[i] == preds[i]][:per_kind]
    wrong = [i for i in range(len(labels)) if labels[i] != preds[i]][:per_kind]
    chosen = right + wrong
    fig = new_figure(2.6 * max(1, len(chosen)), 3.4)
    for j, i in enumerate(chosen):
        seen = {}

        def hook(m, inp, out, seen=seen):
            seen["a"] = out
            out.register_hook(lambda g: seen.__setitem__("g", g))

        handle = target.register_forward_hook(hook)
        try:
            # the input asks for a gradient so that frozen backbones (no trainable
            # parameters below the head) still carry one to the conv layer
            x = loaded.preprocess(images[i][None]).float().contiguous().requires_grad_(True)
            logits = model(x)
            logits[0, int(preds[i])].backward()
        finally:
            handle.remove()
        act, grad = seen["a"][0].detach(), seen["g"][0]
        cam = torch.relu((grad.mean((1, 2))[:, None, None] * act).sum(0))
        cam = nn.functional.interpolate(
            cam[None, None], size=images.shape[-2:], mode="bilinear", align_corners=False
        )[0, 0]
        cam = (cam / (cam.max() + 1e-12)).cpu().numpy()
        ax = fig.add_subplot(1, len(chosen), j + 1)
        _show(ax, images[i].numpy())
        ax.imshow(cam, cmap="jet", alpha=0.45)
        ok = labels[i] == preds[i]
        ax.set_title(
            f"#{indices[i]} true {classes[labels[i]]}\npred {classes[preds[i]]}",
            fontsize=9,
            color="darkgreen" if ok else "red",
        )
    fig.suptitle(
        f"Grad-CAM on the last conv layer for the predicted class: {len(right)} correct, "
        f"{len(wrong)} wrong"
    )
    return fig
