"""--cv K: the folds (stratified, seeded, disjoint, covering the pool), a trial's run over
them (a value per fold stored, the mean as its value, the pruner during the first fold only),
and the refusals (bad K, a class smaller than K, a rerun with another K)."""

import json
import re
import statistics
from unittest import mock

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState
from typer.testing import CliRunner

import automl
from automl import ConfigError, StudyError
from automl.cli import app
from automl.study import folds as folds_module
from automl.study import objective
from automl.study.folds import FoldFeatures, fold_rows
from automl.study.noise import small_split_warning, with_sd
from automl.study.split import TrainingPool

from .photos import make_folder
from .test_search import TINY_SPACE  # lr 1e-7 .. 1e-2, 16 px


def pool_of(counts, skip=()):
    """A pool with `counts[c]` images of class c, its rows numbered with `skip` left out
    (the rows --dedupe would have excluded)."""
    labels = np.repeat(np.arange(len(counts)), counts)
    rows = np.setdiff1d(np.arange(len(labels) + len(skip)), np.asarray(skip, dtype=np.int64))
    return TrainingPool(torch.zeros(len(labels), 1, 2, 2), torch.from_numpy(labels), rows)


def test_folds_are_stratified_disjoint_cover_the_pool_and_seeded():
    pool = pool_of([23, 11, 7], skip=[3, 17])
    folds = fold_rows(pool, 5, seed=0, classes=["a", "b", "c"])
    assert len(folds) == 5
    every = [r for fold in folds for r in fold]
    assert sorted(every) == pool.rows.tolist()  # disjoint and covering, in pool rows
    label_of = dict(zip(pool.rows.tolist(), pool.labels.tolist(), strict=True))
    for c, n in enumerate([23, 11, 7]):
        per_fold = [sum(label_of[r] == c for r in fold) for fold in folds]
        assert max(per_fold) - min(per_fold) <= 1 and sum(per_fold) == n  # stratified
    assert fold_rows(pool, 5, seed=0, classes=["a", "b", "c"]) == folds
    assert fold_rows(pool, 5, seed=1, classes=["a", "b", "c"]) != folds


def test_a_class_smaller_than_k_is_refused_naming_it():
    with pytest.raises(ConfigError, match=r"8 folds \(cv\) need at least 8 training images"):
        fold_rows(pool_of([20, 7, 9]), 8, seed=0, classes=["a", "b", "c"])
    try:
        fold_rows(pool_of([20, 7, 9]), 8, seed=0, classes=["a", "b", "c"])
    except ConfigError as exc:
        assert "class 'b' has 7" in str(exc) and "\n" not in str(exc)


def test_fold_features_take_their_rows_of_one_pass_over_the_pool():
    asked = []

    class Store:
        def get(self, split, model, images, *args):
            asked.append((split, len(images)))
            return torch.arange(len(images)).float()[:, None]

    pool = (torch.zeros(6, 1, 2, 2), torch.zeros(6))
    index = {"train": torch.tensor([0, 2, 3, 5]), "val": torch.tensor([1, 4])}
    view = FoldFeatures(Store(), pool, index)
    train = view.get("train", None, pool[0][index["train"]], 0, 1, None)
    assert train[:, 0].tolist() == [0, 2, 3, 5]
    assert view.get("val", None, pool[0][index["val"]], 0, 1, None)[:, 0].tolist() == [1, 4]
    assert asked == [("pool", 6), ("pool", 6)]  # the whole pool each time: the store keeps it


@pytest.fixture
def photos(tmp_path):
    space = tmp_path / "tiny.py"
    space.write_text(TINY_SPACE)
    return str(space), make_folder(tmp_path / "photos")  # 3 classes of 10 training images


def test_a_cv_trial_trains_each_fold_and_its_value_is_their_mean(tmp_path, photos, one_thread):
    """...and the best one's re-check trains on other folds of the same pool, unpruned."""
    space, data = photos
    loads = mock.patch.object(objective, "training_pool", wraps=objective.training_pool)
    cuts = mock.patch.object(folds_module, "fold_rows", wraps=folds_module.fold_rows)
    with loads as loaded, cuts as cut_again:
        study = automl.search(
            space, data=data, study="cv", trials=2, cv=3, epochs=2, studies_dir=tmp_path,
            portfolio=False, recheck=1,
        )  # fmt: skip
    assert loaded.call_count == 1  # the pool is read once, every fold of every trial from it
    folds = study.user_attrs["folds"]
    assert study.user_attrs["cv"] == 3 and sorted(map(len, folds)) == [10, 10, 10]
    *searched, check = study.trials
    best = max(searched, key=lambda t: t.value)
    assert check.user_attrs["recheck_of"] == best.number and check.params == best.params
    assert check.intermediate_values == {}  # a re-check reports nothing: it is never pruned
    assert check.user_attrs["seed"] not in {t.user_attrs["seed"] for t in searched}
    cuts = [c.args[1:3] for c in cut_again.call_args_list]  # the study's, the re-check's
    assert cuts[-1] == (3, check.user_attrs["seed"]) and check.user_attrs["seed"] != 0
    assert len(check.user_attrs["fold_values"]) == 3
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE
        ua = trial.user_attrs
        assert len(ua["fold_values"]) == 3
        assert trial.value == pytest.approx(statistics.fmean(ua["fold_values"]))
        assert ua["value_sd"] == pytest.approx(statistics.stdev(ua["fold_values"]))
        assert [(r["fold"], r["epoch"]) for r in ua["history"]] == [
            (f, e) for f in (1, 2, 3) for e in (1, 2)
        ]
        assert ua["epochs_run"] == 6
        first = [r["val_acc"] for r in ua["history"] if r["fold"] == 1]
        if trial.number != check.number:
            assert list(trial.intermediate_values.values()) == first  # the first fold's
        assert ua["fold_values"] == [ua["history"][i]["val_acc"] for i in (1, 3, 5)]
    final = automl.finalize("cv", studies_dir=tmp_path)  # on the whole pool, as without folds
    saved = json.loads(final.metrics_path.read_text())
    assert saved["epochs"] == 2 and saved["train_images"] == 30


def test_the_pruner_sees_the_first_fold_only(tmp_path, photos, one_thread):
    space, data = photos
    calls = []

    def should_prune(trial):
        calls.append(trial.number)
        return trial.number == 1 and calls.count(1) == 2  # trial 1: pruned after epoch 2

    with mock.patch.object(optuna.trial.Trial, "should_prune", autospec=True) as asked:
        asked.side_effect = should_prune
        study = automl.search(
            space, data=data, study="cvp", trials=2, cv=3, epochs=3, studies_dir=tmp_path,
            portfolio=False, recheck=0,
        )  # fmt: skip
    assert calls == [0, 0, 0, 1, 1]  # after each epoch of fold 1, never in folds 2 and 3
    survived, pruned = study.trials
    assert survived.state == TrialState.COMPLETE and survived.user_attrs["epochs_run"] == 9
    assert pruned.state == TrialState.PRUNED and pruned.user_attrs["epochs_run"] == 2
    assert "fold_values" not in pruned.user_attrs  # fewer than K x epochs spent


def test_a_rerun_with_another_cv_is_refused_naming_both(tmp_path, photos, one_thread):
    space, data = photos
    common = {"data": data, "epochs": 1, "pruner": "none", "studies_dir": tmp_path, "recheck": 0}
    automl.search(space, study="r", trials=1, cv=3, portfolio=False, **common)
    with pytest.raises(StudyError, match="was made with cv=3, not 2; leave cv out"):
        automl.search(space, study="r", trials=2, cv=2, **common)
    again = automl.search(space, study="r", trials=2, **common)  # --cv left out: the study's
    assert len(again.trials[1].user_attrs["fold_values"]) == 3
    automl.search(space, study="n", trials=1, portfolio=False, **common)
    with pytest.raises(StudyError, match="was made with cv=unset, not 3"):
        automl.search(space, study="n", trials=2, cv=3, **common)


runner = CliRunner()


@pytest.mark.parametrize("k", ["1", "0", "-2"])
def test_cli_refuses_a_bad_cv_in_one_line(tmp_path, k):
    r = runner.invoke(app, ["search", "--cv", k, "--studies-dir", str(tmp_path)])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert f"--cv must be a whole number of folds, at least 2, got {k}" in lines[0]
    assert not list(tmp_path.iterdir())  # nothing made


def test_cli_refuses_more_folds_than_a_class_has_images(tmp_path, photos):
    space, data = photos
    studies = tmp_path / "studies"
    r = runner.invoke(
        app,
        ["search", "--space", space, "--data", str(data), "--study", "big", "--cv", "11",
         "--studies-dir", str(studies)],
    )  # fmt: skip
    lines = [line for line in r.output.splitlines() if line.strip() and "[I " not in line]
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert lines[-1].startswith("error: 11 folds (--cv) need at least 11 training images in")
    assert "has 10" in lines[-1]
    assert not (studies / "big.db").exists()  # no study was made, not even its file


def test_a_value_is_shown_with_its_sd_where_it_has_one():
    assert with_sd(0.61234, None) == "0.6123"
    assert with_sd(0.61234, 0.0312) == "0.6123 ± 0.0312"
    assert small_split_warning(199, None) and "--cv 5" in small_split_warning(49, None)
    assert small_split_warning(200, None) is None and small_split_warning(49, 5) is None


def test_cli_shows_value_and_sd_and_warns_of_a_small_split(tmp_path, photos):
    space, data = photos
    common = ["--space", space, "--data", str(data), "--epochs", "1", "--pruner", "none",
              "--no-portfolio", "--trials", "1", "--recheck", "0",
              "--studies-dir", str(tmp_path)]  # fmt: skip
    r = runner.invoke(app, ["search", "--study", "k", "--cv", "3", *common])
    assert r.exit_code == 0, r.output
    shown = r"best: trial #0, val_acc \d\.\d{4} ± \d\.\d{4} \(mean ± sd of 3 folds\)"
    assert re.search(shown, r.output), r.output
    assert "--cv 5" not in r.output  # already cross-validated
    r = runner.invoke(app, ["search", "--study", "one", *common])
    assert r.exit_code == 0, r.output
    warned = [line for line in r.output.splitlines() if "the validation split holds" in line]
    assert len(warned) == 1 and "holds 6 images" in warned[0], r.output
    assert "--cv 5" in " ".join(r.output.split())
    assert re.search(r"best: trial #0, val_acc \d\.\d{4}\n", r.output)  # one run: no ±
    r = runner.invoke(app, ["studies", "--studies-dir", str(tmp_path)])
    assert r.exit_code == 0 and re.search(r"│ k +│ \d\.\d{4} ±", r.output), r.output  # k: cv
