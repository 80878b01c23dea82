"""automl.search on the built-in digits: attrs, resume, samplers, and refusals."""

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

import automl
from automl import ConfigError, StorageError, StudyError
from automl.study.samplers import create_sampler
from automl.study.storage import open_storage
from automl.train.precision import resolve_device

TINY = {"resolution": 32, "epochs": 1, "pruner": "none", "recheck": 0}


def test_study_records_what_finalize_needs(digits_study):
    studies_dir, name = digits_study
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{studies_dir}/{name}.db")
    attrs = study.user_attrs
    assert attrs["space"] == "scratch_cnn" and attrs["data"] == "digits"
    assert attrs["resolution"] == 32 and attrs["epochs"] == 2 and attrs["split_seed"] == 0
    assert len(attrs["data_fingerprint"]) >= 32
    assert abs(len(attrs["val_indices"]) - 0.2 * 1437) <= 5
    assert attrs["classes"] == [str(i) for i in range(10)]
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE
        assert trial.params["resolution"] == 32
        ua = trial.user_attrs
        assert ua["params"] > 0 and ua["flops"] > 0 and ua["wall_time"] > 0
        assert ua["device"] == str(resolve_device("auto"))  # a GPU where there is one
        assert ua["precision"] in ("bf16", "fp16", "fp32")
        assert ua["precision_reason"] and ua["threads"] >= 1
        assert ua["memory_format"] in ("channels_last", "contiguous")
        assert [row["epoch"] for row in ua["history"]] == [1, 2]
        assert trial.intermediate_values.keys() == {1, 2}
        assert trial.value == ua["history"][-1]["val_acc"]


def test_rerun_resumes_and_adds_only_missing_trials(tmp_path):
    first = automl.search(study="r", trials=2, studies_dir=tmp_path, **TINY)
    before = {t.number: (t.value, t.params) for t in first.trials}
    again = automl.search(study="r", trials=2, studies_dir=tmp_path, **TINY)
    assert len(again.trials) == 2  # nothing to do
    more = automl.search(study="r", trials=3, studies_dir=tmp_path)  # settings come from the study
    assert len(more.trials) == 3
    assert {t.number: (t.value, t.params) for t in more.trials[:2]} == before
    assert (
        more.trials[2].params["resolution"] == 32 and len(more.trials[2].user_attrs["history"]) == 1
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epochs": 3}, "was made with epochs=1, not 3"),
        ({"seed": 5}, "was made with seed=0, not 5"),
        ({"resolution": 64}, "was made with resolution=32, not 64"),
    ],
)
def test_resume_refuses_changed_settings(tmp_path, change, message):
    automl.search(study="s", trials=1, studies_dir=tmp_path, **TINY)
    with pytest.raises(StudyError, match=message):
        automl.search(study="s", trials=2, studies_dir=tmp_path, **{**TINY, **change})


def test_split_is_stable_for_a_study(tmp_path):
    a = automl.search(study="a", trials=1, studies_dir=tmp_path, **TINY)
    b = automl.search(study="b", trials=1, studies_dir=tmp_path, **TINY)
    c = automl.search(study="c", trials=1, studies_dir=tmp_path, seed=1, **TINY)
    assert a.user_attrs["val_indices"] == b.user_attrs["val_indices"]
    assert a.user_attrs["val_indices"] != c.user_attrs["val_indices"]


@pytest.mark.parametrize(("sampler", "trials"), [("random", 2), ("grid", 2), ("cmaes", 5)])
def test_other_samplers_run(tmp_path, sampler, trials, recwarn, caplog):
    fix = {"lr": 0.05} if sampler == "grid" else None  # outside the space's 0.0001 .. 0.03
    study = automl.search(
        study=sampler, trials=trials, sampler=sampler, fix=fix, studies_dir=tmp_path, **TINY
    )
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * trials
    if sampler == "grid":
        assert all(t.params["resolution"] == 32 for t in study.trials)  # the pin holds in grids
        assert all(t.params["lr"] == 0.05 for t in study.trials)
        warned = [r.getMessage() for r in caplog.records if "outside what space" in r.getMessage()]
        assert len(warned) == 1 and not [w for w in recwarn if "out of range" in str(w.message)]
    if sampler == "cmaes":  # past its 4 random start-up trials, CMA-ES itself proposes
        assert any(k.endswith("generation") for k in study.trials[-1].system_attrs)


TINY_SPACE = """
from automl import DataConfig, OptimConfig, TrialConfig
from automl.models.scratch_cnn import ScratchCNNConfig

def space(trial):
    return TrialConfig(
        model=ScratchCNNConfig(base_filters=8, dense_units=32, batch_norm=False),
        optim=OptimConfig(lr=trial.suggest_float("lr", 1e-7, 1e-2, log=True)),
        data=DataConfig(resolution=16, batch_size=128))
"""


def test_pruner_prunes_and_says_why(tmp_path):
    space = tmp_path / "tiny.py"
    space.write_text(TINY_SPACE)
    study = automl.search(
        str(space),
        study="p",
        trials=10,
        studies_dir=tmp_path,
        sampler="random",
        pruner="median",
        epochs=3,
        recheck=0,
    )
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, "median pruning should stop some of 10 trials with lr from 1e-7 to 1e-2"
    for t in pruned:
        assert t.user_attrs["pruned_reason"].startswith("pruner stopped it after epoch")
        assert t.user_attrs["epochs_run"] < 3


def test_non_finite_loss_is_pruned_not_scored(tmp_path):
    space = tmp_path / "exploding.py"
    space.write_text(
        "from automl import TrialConfig, OptimConfig, DataConfig\n"
        "from automl.models.scratch_cnn import ScratchCNNConfig\n"
        "def space(trial):\n"
        "    return TrialConfig(model=ScratchCNNConfig(base_filters=8, batch_norm=False),\n"
        "        optim=OptimConfig(name='sgd', lr=trial.suggest_float('lr', 1e30, 1e31)),\n"
        "        data=DataConfig(resolution=16))\n"
    )
    study = automl.search(
        str(space), study="x", trials=1, epochs=2, pruner="none", studies_dir=tmp_path
    )
    (trial,) = study.trials
    assert trial.state == TrialState.PRUNED and trial.value is None
    assert "training loss became" in trial.user_attrs["pruned_reason"]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"sampler": "bayes"}, ConfigError, "unknown sampler 'bayes'; choose one of: cmaes, grid"),
        (
            {"pruner": "asha"},
            ConfigError,
            "unknown pruner 'asha'; choose one of: hyperband, median",
        ),
        ({"storage": "not a url"}, StorageError, "bad storage URL 'not a url'"),
        ({"storage": "nosuchdb://x/y"}, StorageError, "no driver"),
        ({"trials": 0}, ConfigError, "trials must be at least 1"),
        ({"precision": "fp16"}, ConfigError, "fp16 needs a CUDA device"),
        ({"threads": 0}, ConfigError, "threads must be a whole number of at least 1, got 0"),
    ],
)
def test_bad_options(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        automl.search(study="bad", studies_dir=tmp_path, **{**TINY, **kwargs})


def test_threads_are_used_recorded_and_put_back(tmp_path):
    import torch

    before = torch.get_num_threads()
    study = automl.search(study="t", trials=1, studies_dir=tmp_path, threads=1, **TINY)
    assert study.trials[0].user_attrs["threads"] == 1
    assert torch.get_num_threads() == before


def test_grid_needs_a_declared_grid(tmp_path):
    space = tmp_path / "nogrid.py"
    space.write_text("from search_spaces.scratch_cnn import scratch_cnn as space\n")
    with pytest.raises(ConfigError, match="declares no grid"):
        create_sampler("grid", 0, None)
    with pytest.raises(ConfigError, match="declares no grid"):
        automl.search(str(space), sampler="grid", study="g", studies_dir=tmp_path, **TINY)


def test_missing_database_is_not_created(tmp_path):
    with pytest.raises(StorageError, match="no study database at"):
        open_storage(f"sqlite:///{tmp_path}/absent.db", must_exist=True)
    assert not (tmp_path / "absent.db").exists()


def test_resumed_runs_do_not_replay_the_sampler(tmp_path):
    automl.search(study="rr", trials=2, sampler="random", studies_dir=tmp_path, **TINY)
    study = automl.search(study="rr", trials=4, sampler="random", studies_dir=tmp_path, **TINY)
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(params)) == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"resolution": 2}, "resolution 2 is outside 4..1024"),
        ({"fix": {"nope": 1}}, "has no param 'nope' to fix; its params: activation"),
        ({"fix": {"activation": "swish"}}, "unknown activation 'swish'; choose one of"),
        ({"fix": {"lr": "abc"}}, "lr='abc' does not fit space 'scratch_cnn'"),
        ({"weights": "w.pt"}, "model 'scratch_cnn' has no pretrained backbone; drop weights"),
        ({"pretrained": False}, "drop pretrained=False"),
        ({"seed": -1}, "seed must be 0 or more"),
    ],
)
def test_refusals_leave_no_study_behind(tmp_path, kwargs, message):
    with pytest.raises(automl.AutoMLError, match=message):
        automl.search(study="none", studies_dir=tmp_path, **{**TINY, **kwargs})
    assert not (tmp_path / "none.db").exists() or not optuna.get_all_study_names(
        f"sqlite:///{tmp_path}/none.db"
    )


def test_fix_pins_a_param(tmp_path):
    study = automl.search(
        study="fx",
        trials=2,
        fix={"activation": "mish", "batch_norm": True, "lr": np.float64(1e-3)},
        studies_dir=tmp_path,
        **TINY,
    )
    assert {(t.params["activation"], t.params["batch_norm"]) for t in study.trials} == {
        ("mish", True)
    }
    assert study.user_attrs["fixed"] == {
        "activation": "mish",
        "batch_norm": True,
        "lr": 1e-3,
        "resolution": 32,
    }


def test_unusable_data_leaves_no_study(tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / "d" / "train" / name).mkdir(parents=True)
        (tmp_path / "d" / "test" / name).mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / "d" / "train" / "a" / f"{i}.png")
    (tmp_path / "d" / "train" / "b" / "broken.jpg").write_text("not an image")
    with pytest.raises(automl.DataError, match="class 'b' has 0 usable images"):
        automl.search(data=tmp_path / "d", study="u", studies_dir=tmp_path, **TINY)
    assert optuna.get_all_study_names(f"sqlite:///{tmp_path}/u.db") == []


def test_user_space_file_loads_twice(tmp_path):
    path = tmp_path / "reg.py"
    path.write_text(
        "from automl import TrialConfig, register_space\n"
        "from automl.models.scratch_cnn import ScratchCNNConfig\n"
        "@register_space('reg_twice')\n"
        "def mine(trial):\n"
        "    f = trial.suggest_int('f', 8, 9)\n"
        "    return TrialConfig(model=ScratchCNNConfig(base_filters=f))\n"
    )
    assert automl.get_space(str(path)) is automl.get_space(str(path))
