"""Spaces: the registry, user files, and the contract every space must meet."""

import textwrap

import numpy as np
import optuna
import pytest

from automl import SpaceError, TrialConfig, get_space, list_spaces
from automl.config import config_to_dict
from automl.models import config_from_dict


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_yields_a_valid_config(name):
    space = get_space(name)
    for seed in range(20):
        cfg, params = space.sample(seed)
        assert isinstance(cfg, TrialConfig)
        assert space.rebuild(params) == cfg  # builders need the params alone
        assert config_from_dict(config_to_dict(cfg)) == cfg


def test_conditional_momentum_only_for_sgd():
    space = get_space("scratch_cnn")
    for seed in range(30):
        cfg, params = space.sample(seed)
        assert ("momentum" in params) == (cfg.optim.name == "sgd")


def test_grid_covers_every_param():
    space = get_space("scratch_cnn")
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(dict(space.grid), seed=0))
    trial = study.ask()
    space(trial)
    assert set(trial.params) <= set(space.grid)


def test_unknown_space_lists_the_known_ones():
    with pytest.raises(SpaceError, match="unknown space 'nope'; choose one of: .*scratch_cnn"):
        get_space("nope")


def write(tmp_path, body: str):
    path = tmp_path / "my_space.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_user_space_file(tmp_path):
    path = write(
        tmp_path,
        """
        from automl import TrialConfig, DataConfig
        from automl.models.scratch_cnn import ScratchCNNConfig

        def space(trial):
            return TrialConfig(model=ScratchCNNConfig(base_filters=trial.suggest_int("f", 8, 16)),
                               data=DataConfig(resolution=32))
        """,
    )
    space = get_space(str(path))
    assert space.name == "my_space" and space.file == str(path)
    cfg, params = space.sample()
    assert 8 <= cfg.model.base_filters <= 16 and set(params) == {"f"}


def test_user_file_registering_one_space(tmp_path):
    path = write(
        tmp_path,
        """
        from automl import TrialConfig, register_space
        from automl.models.scratch_cnn import ScratchCNNConfig

        @register_space("registered_in_file")
        def mine(trial):
            return TrialConfig(model=ScratchCNNConfig())
        """,
    )
    assert get_space(str(path)).name == "registered_in_file"


@pytest.mark.parametrize(
    "body, message",
    [
        ("import not_a_module_at_all\n", "failed to import: ModuleNotFoundError"),
        ("x = 1\n", "defines no `space\\(trial\\)` function"),
        ("def space(trial):\n    return {'lr': 0.1}\n", "returned dict; it must return"),
        ("def space(trial):\n    return None\n", "returned NoneType"),
        ("def space(trial):\n    raise ValueError('boom')\n", "raised ValueError: boom"),
    ],
)
def test_broken_user_spaces(tmp_path, body, message):
    with pytest.raises(SpaceError, match=message):
        get_space(str(write(tmp_path, body))).sample()


def test_missing_space_file(tmp_path):
    with pytest.raises(SpaceError, match="does not exist"):
        get_space(str(tmp_path / "gone.py"))


def test_a_pin_of_the_wrong_kind_is_refused_and_one_outside_is_flagged():
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    from automl.errors import ConfigError
    from automl.spaces import as_choice, check_pin

    lr, size = FloatDistribution(1e-4, 1e-2, log=True), IntDistribution(32, 128, step=32)
    flags = CategoricalDistribution([True, False])
    sched = CategoricalDistribution([None, "cosine"])
    assert not check_pin("s", "lr", 1e-3, lr) and check_pin("s", "lr", 0.5, lr)
    assert not check_pin("s", "lr", np.float64(1e-3), lr)  # numpy numbers are numbers
    assert check_pin("s", "size", 160, size) and not check_pin("s", "flags", True, flags)
    assert check_pin("s", "sched", "step", sched)  # outside the choices, of their kind
    for name, value, dist in [("lr", "abc", lr), ("size", 64.5, size), ("flags", 1, flags)]:
        with pytest.raises(ConfigError, match=f"{name}=.* does not fit space 's'"):
            check_pin("s", name, value, dist)
    # what the command line reads as text or a number stands for the choice it spells
    assert as_choice("None", sched) is None
    assert as_choice(64, CategoricalDistribution(["32", "64"])) == "64"
    assert as_choice("step", sched) == "step"
