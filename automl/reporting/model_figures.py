"""Figures that need the finalized model: prediction grid, first-layer filters and activations,
guided back-propagation on the last conv block, Grad-CAM. Works on any conv model; what does
not apply to a model raises NotApplicable with the reason."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from automl.inference import LoadedModel
from automl.nn import Conv2d as AutoConv2d
from automl.reporting.figures import NotApplicable, new_figure


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


def _colour(correct: bool) -> str:
    return "darkgreen" if correct else "red"


def _verdict(ax, title: str, correct: bool) -> None:
    """A panel title in green for a correct prediction, red for a wrong one."""
    ax.set_title(title, fontsize=9, color=_colour(correct))


def prediction_grid(images: torch.Tensor, labels, preds, classes, indices):
    """10 rows x 3 columns of held-out images, titled true / predicted; wrong ones in red."""
    n = len(images)
    rows, cols = math.ceil(n / 3), 3
    fig = new_figure(7.5, 2.3 * rows)
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        _show(ax, images[i].numpy())
        ok = labels[i] == preds[i]
        _verdict(ax, f"#{indices[i]} true: {classes[labels[i]]}\npred: {classes[preds[i]]}"
                 + ("" if ok else "  (wrong)"), ok)  # fmt: skip
        for spine in ax.spines.values():
            spine.set_edgecolor(_colour(ok))
            spine.set_linewidth(3)
    fig.suptitle("Held-out images: true and predicted class (green correct, red wrong)")
    return fig


def _convs(model: nn.Module) -> list[nn.Module]:
    """2-D convolutions in module order: torch's and automl.nn's (not an nn.Conv2d subclass)."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, AutoConv2d))]


def first_conv(model: nn.Module) -> nn.Module:
    convs = _convs(model)
    if not convs:
        raise NotApplicable("the model has no 2-D convolution")
    return convs[0]


def last_conv_block(model: nn.Module) -> nn.Module | None:
    """scratch_cnn: `model.features` (conv5 after its norm, activation and pool). Other
    models: None, meaning the last spatial feature map (see `last_feature_map`)."""
    if not _convs(model):
        raise NotApplicable("the model has no 2-D convolution")
    features = getattr(model, "features", None)
    return features if isinstance(features, nn.Sequential) else None


def last_feature_map(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """The module whose output, in execution order, is the last 4-D map larger than 1x1: what
    global pooling or the classifier reads (a ResNet's last block after its activation, not
    the 1x1 shortcut conv registered last; in MobileNetV3 the map before pooling, not the
    conv head after it)."""
    seen: list[nn.Module] = []

    def hook(module, inputs, out):
        if isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[-1] * out.shape[-2] > 1:
            seen.append(module)

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if not seen:
        raise NotApplicable("the model has no spatial feature map larger than 1x1")
    return seen[-1]


def _copy(model: nn.Module) -> nn.Module:
    """A float32 eval copy with in-place operations off, so gradients can be hooked."""
    model = copy.deepcopy(model).float().eval()
    for m in model.modules():
        if isinstance(getattr(m, "inplace", None), bool):
            m.inplace = False
    return model


def _last_output(module: nn.Module, run) -> torch.Tensor:
    """Run `run()` and return `module`'s output of its last call (shared modules, such as a
    ResNet block's one ReLU, are called more than once)."""
    seen = {}
    handle = module.register_forward_hook(lambda m, i, o: seen.__setitem__("out", o))
    try:
        run()
    finally:
        handle.remove()
    return seen["out"]


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
    (exactly guided back-propagation for ReLU). ReLU6 counts as ReLU: its cap would give the
    most active units, saturated at 6, no gradient at all (efficientnet_lite, mobilenet)."""

    @staticmethod
    def forward(ctx, x, act):
        with torch.enable_grad():
            xd = x.detach().requires_grad_(True)
            y = act(xd.clone())  # the clone lets in-place activations (ReLU(inplace=True)) run
            (slope,) = torch.autograd.grad(y.sum(), xd)
        if type(act).__name__ == "ReLU6":
            slope = (x > 0).to(slope.dtype)
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
    model = _copy(model)
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


@dataclass(frozen=True)
class Unit:
    channel: int
    position: tuple[int, int] | None  # None when the map is 1x1
    activation: float
    gradient: np.ndarray  # (C, H, W) guided gradient w.r.t. the preprocessed input


def guided_gradients(
    loaded: LoadedModel, image: torch.Tensor, neurons: int = 10
) -> tuple[str, list[Unit]]:
    """(where, units): the `neurons` most active units (a channel at a position) of the last
    conv block for `image`, with positive activation, each with its guided gradient."""
    block = last_conv_block(loaded.model)  # no convolution: not applicable, before the copy
    model = _guided_copy(loaded.model)
    x = loaded.preprocess(image[None]).float().contiguous().requires_grad_(True)
    if block is None:
        block = last_feature_map(model, x)
        name = type(block.act if isinstance(block, _GuidedAct) else block).__name__
        where = f"the last feature map ({name})"
    else:
        block = model.features
        where = "the last conv block"
    out = _last_output(block, lambda: model(x))[0]  # (C, H, W)
    values, order = out.detach().flatten().sort(descending=True)
    h, w = out.shape[-2:]
    units = []
    for unit in order[values > 0][:neurons].tolist():
        c, rest = divmod(unit, h * w)
        (grad,) = torch.autograd.grad(out.flatten()[unit], x, retain_graph=True)
        position = None if h * w == 1 else (rest // w, rest % w)
        act = out.flatten()[unit].item()
        units.append(Unit(c, position, act, grad[0].detach().cpu().numpy()))
    if not units:
        raise NotApplicable("no unit of the last conv block is active for this image")
    return where, units


def guided_backprop(loaded: LoadedModel, image: torch.Tensor, neurons: int = 10):
    """The input, then a 10 x 1 grid: one row per unit of `guided_gradients`."""
    where, units = guided_gradients(loaded, image, neurons)
    rows = len(units) + 1
    fig = new_figure(4.4, 1.55 * rows + 0.6)
    ax = fig.add_subplot(rows, 1, 1)
    _show(ax, image.numpy())
    ax.set_ylabel("input", rotation=0, ha="right", va="center", fontsize=10)
    for j, u in enumerate(units):
        ax = fig.add_subplot(rows, 1, j + 2)
        _show(ax, _gradient_image(u.gradient))
        at = "" if u.position is None else f" at {u.position}"
        ax.set_ylabel(
            f"channel {u.channel}{at}\nactivation {u.activation:.2f}",
            rotation=0,
            ha="right",
            va="center",
            fontsize=10,
        )
    fig.suptitle(
        f"Guided back-propagation:\n{len(units)} most active neurons\nof {where}", fontsize=11
    )
    return fig


def grad_cam(loaded: LoadedModel, images, labels, preds, classes, indices, per_kind: int = 3):
    first_conv(loaded.model)  # no convolution: not applicable
    model = _copy(loaded.model)
    target = last_feature_map(model, loaded.preprocess(images[:1]).float().contiguous())
    right = [i for i in range(len(labels)) if labels[i] == preds[i]][:per_kind]
    wrong = [i for i in range(len(labels)) if labels[i] != preds[i]][:per_kind]
    chosen = right + wrong
    fig = new_figure(2.6 * max(1, len(chosen)), 3.4)
    for j, i in enumerate(chosen):
        seen = {}

        def hook(m, inp, out, seen=seen):  # the last call wins (shared modules)
            seen["a"] = out
            out.register_hook(lambda g, a=out: seen.setdefault("g", {}).__setitem__(id(a), g))

        handle = target.register_forward_hook(hook)
        try:
            # the input asks for a gradient so that frozen backbones (no trainable
            # parameters below the head) still carry one to the conv layer
            x = loaded.preprocess(images[i][None]).float().contiguous().requires_grad_(True)
            logits = model(x)
            logits[0, int(preds[i])].backward()
        finally:
            handle.remove()
        act, grad = seen["a"][0].detach(), seen["g"][id(seen["a"])][0]
        cam = torch.relu((grad.mean((1, 2))[:, None, None] * act).sum(0))
        zero = bool(cam.max() <= 0)
        cam = nn.functional.interpolate(
            cam[None, None], size=images.shape[-2:], mode="bilinear", align_corners=False
        )[0, 0]
        cam = (cam / (cam.max() + 1e-12)).cpu().numpy()
        ax = fig.add_subplot(1, len(chosen), j + 1)
        _show(ax, images[i].numpy())
        ax.imshow(cam, cmap="jet", alpha=0.45)
        _verdict(ax, f"#{indices[i]} true {classes[labels[i]]}\npred {classes[preds[i]]}"
                 + ("\n(map all zero)" if zero else ""), labels[i] == preds[i])  # fmt: skip
    side = "x".join(map(str, seen["a"].shape[-2:])) if chosen else "?"
    fig.suptitle(
        f"Grad-CAM for the predicted class on the last feature map ({type(target).__name__}, "
        f"{side}): {len(right)} correct, {len(wrong)} wrong"
    )
    return fig
