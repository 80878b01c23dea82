"""A frozen backbone's feature pass chooses its memory layout itself, on its first batches,
instead of a separate timing probe: no image runs twice, and the choice is kept."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automl.config import DataConfig, OptimConfig, TrialConfig
from automl.models.finetune import FinetuneConfig
from automl.train import features, measure
from automl.train.fit import fit
from automl.train.memory_format import measured
from automl.train.precision import resolve_precision

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def never_probed(*args, **kwargs):
    raise AssertionError("a head-only run timed a probe")


def backbone() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )


def test_the_pass_times_its_first_batches_in_both_layouts_and_runs_each_image_once():
    net = backbone()
    sizes: list[int] = []
    layouts: list[bool] = []

    def seen(module, args):
        sizes.append(len(args[0]))
        layouts.append(args[0].is_contiguous(memory_format=torch.channels_last))

    net.register_forward_pre_hook(seen)
    images = torch.randint(0, 256, (150, 3, 12, 12), dtype=torch.uint8)
    cpu = resolve_precision("fp32", torch.device("cpu"))
    timed: dict[str, float] = {}
    out = features.extract_features(
        net, images, MEAN, STD, cpu, channels_last=None, timed=timed
    )  # fmt: skip
    assert sizes == [32, 32, 32, 32, 22] and sum(sizes) == len(images)
    assert layouts[:4] == [False, True, False, True]
    assert set(timed) == {"contiguous", "channels_last"} and min(timed.values()) > 0
    chosen = timed["channels_last"] <= measure.MARGIN * timed["contiguous"]
    assert layouts[4] == chosen
    reference = features.extract_features(backbone(), images, MEAN, STD, cpu, channels_last=False)
    torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-5)
    few: dict[str, float] = {}  # fewer batches than the choice needs: default layout, no timing
    features.extract_features(net, images[:40], MEAN, STD, cpu, channels_last=None, timed=few)
    assert few == {} and next(net.parameters()).is_contiguous()


@pytest.mark.parametrize("split_val", [True, False])
def test_head_only_fit_takes_no_probe_and_keeps_the_choice(tmp_path, monkeypatch, split_val):
    monkeypatch.setattr(measure, "measure_memory_format", never_probed)
    precision = resolve_precision("fp32", torch.device("cpu"), tmp_path)
    cfg = TrialConfig(
        model=FinetuneConfig(freeze="head"),
        optim=OptimConfig(lr=1e-2),
        data=DataConfig(resolution=32, batch_size=16, augment="none"),
    )
    images = torch.randint(0, 256, (140, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(140) % 2
    val = (images[:20], labels[:20]) if split_val else None
    parts: dict[str, float] = {}
    layouts: list[dict] = []
    result = fit(
        cfg, (images, labels), val, num_classes=2, epochs=1, precision=precision, seed=0,
        features=features.FeatureStore(), parts=parts,
        on_model=lambda model, how: layouts.append(how),
    )  # fmt: skip
    assert set(parts) == {"build", "features"}  # no "probe"
    seconds = measured(result.model.backbone, (16, 3, 32, 32), precision, train=False)
    assert seconds is not None  # what the pass timed is kept, as a probe's would be
    pays = seconds["channels_last"] <= measure.MARGIN * seconds["contiguous"]
    assert layouts == [{"channels_last": pays}] and result.channels_last == pays
    again: dict[str, float] = {}
    calls: list[object] = []
    extract = features.extract_features
    monkeypatch.setattr(
        features, "extract_features", lambda *a, **k: calls.append(k) or extract(*a, **k)
    )
    fit(
        cfg, (images, labels), val, num_classes=2, epochs=1, precision=precision, seed=1,
        features=features.FeatureStore(), parts=again,
    )  # fmt: skip
    assert calls and all(k["channels_last"] is pays for k in calls)  # the kept choice
