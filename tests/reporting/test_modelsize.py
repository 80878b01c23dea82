"""The FLOP counter agrees with the closed form of the 5-block CNN for several configs."""

from __future__ import annotations

import pytest

from automl.models import create_model
from automl.models.scratch_cnn import ScratchCNNConfig, closed_form_flops, closed_form_params
from automl.reporting.modelsize import model_size

CONFIGS = [
    (ScratchCNNConfig(base_filters=16, filter_org="same", kernel_size=3), 1, 32, 10),
    (
        ScratchCNNConfig(base_filters=32, filter_org="double", kernel_size=5, batch_norm=False),
        3,
        64,
        7,
    ),
    (
        ScratchCNNConfig(base_filters=64, filter_org="half", kernel_size=3, dense_units=256),
        3,
        40,
        2,
    ),
    (
        ScratchCNNConfig(base_filters=8, filter_org="double", activation="mish", dense_units=64),
        3,
        96,
        10,
    ),
]


@pytest.mark.parametrize(("cfg", "in_chans", "resolution", "classes"), CONFIGS)
def test_flop_counter_matches_closed_form(cfg, in_chans, resolution, classes):
    model = create_model(cfg, num_classes=classes, in_chans=in_chans, resolution=resolution)
    size = model_size(cfg, model, in_chans, resolution, classes)
    assert size.flops == closed_form_flops(cfg, in_chans, resolution, classes) > 0
    assert size.params == closed_form_params(cfg, in_chans, resolution, classes) > 0
    assert size.agrees is True


def test_closed_form_by_hand():
    # 1x8x8 input, 5 blocks of 8 filters, k=3: W = 8, 4, 2, 1, 1 -> D = 1.
    cfg = ScratchCNNConfig(base_filters=8, kernel_size=3, dense_units=4)
    conv = 2 * 9 * (64 * 1 * 8 + 16 * 8 * 8 + 4 * 8 * 8 + 1 * 8 * 8 + 1 * 8 * 8)
    assert closed_form_flops(cfg, 1, 8, 3) == conv + 2 * 1 * 8 * 4 + 2 * 4 * 3


def test_the_report_rebuilds_a_best_trial_pinned_outside_the_space():
    # `--fix batch_size=8`: the study's own choices hold 8, the space's do not
    import numpy as np
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import create_trial

    from automl.reporting.build import _model_size

    from .synthetic import ATTRS, SPACE, sample_params

    widened = CategoricalDistribution([32, 64, 128, 8])
    params = {**sample_params(np.random.default_rng(0)), "batch_size": 8}
    study = optuna.create_study(direction="maximize")
    for key, value in {**ATTRS, "choices": {"batch_size": list(widened.choices)}}.items():
        study.set_user_attr(key, value)
    study.add_trial(
        create_trial(value=0.9, params=params, distributions={**SPACE, "batch_size": widened})
    )
    text = "".join(map(str, _model_size(study).parts))
    assert "cannot be rebuilt" not in text and "Best trial #0 (scratch_cnn" in text
