"""How a search spends its budget: a portfolio of known-good first trials, TPE's random start
sized to the study, a time budget without a trial count, and the account of what was spent."""

import textwrap
import time

import optuna
import pytest
from optuna.trial import TrialState

import automl
from automl import SpaceError
from automl.display import TrialPrinter
from automl.spaces import get_space
from automl.study.listing import list_studies, spent
from automl.study.record import StudyRecord
from automl.study.samplers import startup_trials
from search_spaces.scratch_cnn import PORTFOLIO

TINY = {"resolution": 32, "epochs": 1, "pruner": "none", "recheck": 0}


def _load(tmp_path, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/{name}.db")


def test_a_new_study_runs_the_portfolio_first(tmp_path):
    automl.search(study="p", trials=4, studies_dir=tmp_path, **TINY)
    study = _load(tmp_path, "p")
    assert StudyRecord.from_study(study).portfolio == len(PORTFOLIO)
    for trial, entry in zip(study.trials, PORTFOLIO, strict=False):
        assert trial.params == {**entry, "resolution": 32}  # the data's pin wins
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4


def test_a_short_study_runs_no_more_of_the_portfolio_than_its_trials(tmp_path):
    automl.search(study="q", trials=2, studies_dir=tmp_path, **TINY)
    study = _load(tmp_path, "q")
    assert StudyRecord.from_study(study).portfolio == 2
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2  # none left waiting


def test_no_portfolio_samples_from_the_start(tmp_path):
    automl.search(study="n", trials=2, studies_dir=tmp_path, portfolio=False, **TINY)
    study = _load(tmp_path, "n")
    assert StudyRecord.from_study(study).portfolio == 0
    assert all(t.params.get("base_filters") != 32 or t.params != PORTFOLIO[0] for t in study.trials)
    assert len(study.trials) == 2


def test_a_bad_portfolio_entry_is_one_error_before_any_study(tmp_path):
    space = tmp_path / "mine.py"
    space.write_text(
        textwrap.dedent(
            """
            from automl import TrialConfig
            from automl.models.scratch_cnn import ScratchCNNConfig

            PORTFOLIO = [{"activation": "sigmoidish"}]

            def space(trial):
                act = trial.suggest_categorical("activation", ["relu", "gelu"])
                return TrialConfig(model=ScratchCNNConfig(activation=act))
            """
        )
    )
    with pytest.raises(SpaceError, match="portfolio entry 0 of space 'mine'"):
        automl.search(str(space), study="b", trials=1, epochs=1, studies_dir=tmp_path)
    assert not (tmp_path / "b.db").exists()


def test_every_builtin_portfolio_is_valid():
    for name in ("scratch_cnn", "finetune"):
        space = get_space(name)
        assert space.portfolio and len(space.portfolio_trials({})) == len(space.portfolio)


def test_tpe_starts_randomly_for_a_third_of_a_short_study():
    assert [startup_trials(n) for n in (None, 6, 12, 20, 40, 200)] == [10, 4, 4, 6, 10, 10]


def test_a_timeout_without_trials_searches_until_the_time_is_up(tmp_path):
    start = time.time()
    study = automl.search(study="t", timeout=6, studies_dir=tmp_path, portfolio=False, **TINY)
    finished = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert finished and len(finished) == len(study.trials)
    # trials start until the time is up (counted from before the first trial), none after
    first = study.trials[0].datetime_start.timestamp()
    assert all(t.datetime_start.timestamp() < first + 6 for t in study.trials)
    assert study.trials[-1].datetime_complete.timestamp() >= start + 6 or len(study.trials) > 1
    assert StudyRecord.from_study(study).trials is None


def test_what_was_spent_is_accounted(tmp_path):
    study = automl.search(study="s", trials=2, studies_dir=tmp_path, portfolio=False, **TINY)
    account = spent(study.trials)
    assert (account.complete, account.pruned, account.failed, account.epochs) == (2, 0, 0, 2)
    assert 0 < account.train + account.evaluate + account.decode <= account.seconds
    line = account.line()
    assert line.startswith("2 completed, 0 pruned, 0 failed; 2 epochs in 0m")
    assert "decoding" in line and "training" in line and "evaluation" in line
    (info,) = list_studies(None, tmp_path)
    assert info.spent == account


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_shows_the_running_epoch_only_on_a_terminal(
    tmp_path, monkeypatch, capsys, terminal
):
    monkeypatch.setenv("TTY_COMPATIBLE", "1" if terminal else "0")
    monkeypatch.setenv("COLUMNS", "200")
    settings = {**TINY, "epochs": 3}
    small = {"base_filters": 16, "filter_org": "same", "batch_size": 128}  # fast: the display
    automl.search(  # is what is tested
        study="live",
        trials=2,
        studies_dir=tmp_path,
        portfolio=False,
        progress=TrialPrinter,
        fix=small,
        **settings,
    )
    err = capsys.readouterr().err
    summaries = [line for line in err.splitlines() if "COMPLETE" in line]
    assert len({line.split()[0] for line in summaries}) == 2  # "#0", "#1": one per trial
    assert all("3 ep" in line for line in summaries)
    if terminal:
        for epoch in (1, 2, 3):
            assert f"trial #0 epoch {epoch}/3 val_acc" in err
    else:
        assert "epoch 1/3" not in err and "\x1b[" not in err
        assert len(summaries) == 2  # one line per finished trial, nothing live


def test_a_python_caller_can_watch_with_its_own_watcher(tmp_path):
    seen = []

    class Recorder:
        def __init__(self, study_name, total, done):
            seen.append(("start", study_name, total, done))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            seen.append(("end",))

        def epoch(self, number, epoch, epochs, row):
            seen.append(("epoch", number, epoch, epochs, "val_acc" in row))

        def __call__(self, study, trial):
            seen.append(("trial", trial.number, trial.state.name))

    settings = {**TINY, "epochs": 2}
    automl.search(
        study="rec", trials=1, studies_dir=tmp_path, portfolio=False, progress=Recorder, **settings
    )
    assert seen == [
        ("start", "rec", 1, 0),
        ("epoch", 0, 1, 2, True),
        ("epoch", 0, 2, 2, True),
        ("trial", 0, "COMPLETE"),
        ("end",),
    ]
    with pytest.raises(automl.ConfigError, match="progress must be None or a watcher factory"):
        automl.search(study="rec", trials=2, studies_dir=tmp_path, progress=True, **settings)
