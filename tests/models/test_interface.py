"""The model interface: what each registered model offers, and a user's plain model."""

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch import nn

from automl.config import OptimConfig
from automl.models import create_model, list_models, model_config_class
from automl.models import interface as api
from automl.models.finetune import FinetuneConfig


@pytest.mark.parametrize("name", list_models())
def test_every_model_config_declares_its_arch(name):
    cls = model_config_class(name)
    assert cls.arch == name
    assert isinstance(cls(), api.ModelConfig)


def test_finetune_offers_weights_and_a_backbone():
    cfg = FinetuneConfig(backbone="resnet18", pretrained=False, freeze="head")
    assert isinstance(cfg, api.PretrainedConfig)
    assert api.normalization(cfg, 3) is None  # from scratch: the data's own statistics
    pretrained = FinetuneConfig(backbone="resnet18", freeze="head")
    assert api.without_weights(pretrained) == cfg
    model = create_model(cfg, num_classes=3)
    assert isinstance(model, api.BackboneModel) and api.head_only(model)
    assert model.feature_key == "resnet18:scratch:3"
    groups = api.param_groups(model, OptimConfig(lr=0.01))
    assert [g["lr"] for g in groups] == [0.01]  # head only: the backbone has nothing to train


@pytest.mark.parametrize("name", ["scratch_cnn", "resnet"])
def test_trained_from_scratch_models_offer_nothing_more(name):
    cfg = model_config_class(name)()
    assert not isinstance(cfg, api.PretrainedConfig)
    assert api.normalization(cfg, 3) is None and api.without_weights(cfg) is cfg
    api.check_weights(cfg)  # nothing to check
    model = create_model(cfg, num_classes=3)
    assert not api.head_only(model)
    assert api.param_groups(model, OptimConfig()) == list(model.parameters())


def test_a_users_plain_model_needs_nothing_more():
    @dataclass(frozen=True)
    class Plain:
        arch: ClassVar[str] = "plain"

    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    model[1].bias.requires_grad_(False)
    assert isinstance(Plain(), api.ModelConfig) and api.normalization(Plain(), 3) is None
    assert not api.head_only(model)
    assert api.param_groups(model, OptimConfig()) == [model[1].weight]
    assert isinstance(api.param_groups(model, OptimConfig())[0], torch.nn.Parameter)
