"""`automl studies` reads the studies folder's SQLite files without Optuna
(automl/study/tables.py): the same studies, and the same listing, as Optuna reads."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import optuna
import pytest
from optuna.storages._rdb import models
from optuna.trial import TrialState
from typer.testing import CliRunner

from automl import cli
from automl.cli import app
from automl.study import listing, tables
from automl.study.listing import list_studies, read_through_optuna, spent
from automl.study.record import FinalRun
from automl.study.tables import UnknownSchema, read_studies

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_the_schema_read_is_the_installed_optunas(tmp_path):
    """Fails when Optuna's tables change: then tables.py must learn the new schema."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'new.db'}")
    assert storage.get_head_version() == tables.REVISION
    assert storage.get_current_version() == tables.REVISION
    assert models.SCHEMA_VERSION == tables.SCHEMA_VERSION
    assert tuple(state.name for state in TrialState) == tables.STATES
    kinds = models.TrialValueModel.TrialValueType
    assert {kind.name for kind in kinds} == {"FINITE", *tables.VALUES}
    for kind, value in tables.VALUES.items():
        assert models.TrialValueModel.value_to_stored_repr(value) == (None, kinds[kind])


def _trial_attrs(i: int) -> dict:
    """The user attributes automl's objective writes (what the listing reads of a trial)."""
    return {
        "history": [{"epoch": 1, "train_seconds": 0.5 + i, "eval_seconds": 0.25}],
        "wall_time": 1.5 + i,
        "epochs_run": 1,
        "decode_seconds": 0.125 * i,
        "parts_seconds": {"startup": 0.5, "build": 0.1 * i, "probe": 0.2},
        "over_limits": ["params"] if i == 2 else [],
        "note": "ünïcode",
    }


def _every_kind_of_study(folder):
    """A file with two studies: one with a trial in each state (values finite and infinite,
    the attributes automl writes, finalize runs) and one empty; and a second file."""
    url = f"sqlite:///{folder / 'many.db'}"
    study = optuna.create_study(study_name="many", storage=url, direction="maximize")
    study.set_user_attr("final_runs", [{"run": 1, "accuracy": 0.5}, {"run": 2, "accuracy": 0.75}])
    study.set_user_attr("space", "scratch_cnn")
    for i, (state, value) in enumerate(
        [
            (TrialState.COMPLETE, 0.5),
            (TrialState.COMPLETE, float("inf")),
            (TrialState.COMPLETE, float("-inf")),
            (TrialState.PRUNED, None),
            (TrialState.FAIL, None),
        ]
    ):
        trial = study.ask()
        for key, attr in _trial_attrs(i).items():
            trial.set_user_attr(key, attr)
        study.tell(trial, value, state=state)
    study.ask()  # RUNNING
    study.enqueue_trial({"lr": 0.01})  # WAITING
    optuna.create_study(study_name="empty", storage=url)
    other = optuna.create_study(study_name="other", storage=f"sqlite:///{folder / 'b.db'}")
    other.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    return url


def test_tables_read_what_optuna_reads(tmp_path):
    url = _every_kind_of_study(tmp_path)
    fast = read_studies(tmp_path / "many.db")
    assert fast == read_through_optuna(url)
    assert [s.name for s in fast] == ["many", "empty"]
    assert [t.state for t in fast[0].trials] == [
        "COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING",
    ]  # fmt: skip
    assert [t.value for t in fast[0].trials[:3]] == [0.5, float("inf"), float("-inf")]
    assert FinalRun.stored(fast[0])[-1].accuracy == 0.75
    assert fast[0].trials[2].user_attrs == _trial_attrs(2)


def _cli_listing(folder, monkeypatch, through_optuna: bool) -> str:
    monkeypatch.setattr(cli.out, "width", 250)  # fixed when cli was imported, maybe narrower
    if through_optuna:
        monkeypatch.setattr(listing, "read_studies", _unknown)
    result = CliRunner().invoke(app, ["studies", "--studies-dir", str(folder)])
    monkeypatch.undo()
    assert result.exit_code == 0, result.output
    return result.output


def _unknown(path):
    raise UnknownSchema("as if the schema were another")


def test_listing_is_the_same_as_through_optuna(tmp_path, monkeypatch):
    url = _every_kind_of_study(tmp_path)
    (tmp_path / "notes.db").write_bytes(b"not a database")  # skipped, as before
    sqlite3.connect(tmp_path / "other-app.db").execute("CREATE TABLE t (x)").connection.close()
    before = (tmp_path / "other-app.db").read_bytes()
    fast = list_studies(None, tmp_path)
    monkeypatch.setattr(listing, "read_studies", _unknown)
    opened = []
    assert list_studies(None, tmp_path, before_optuna=lambda: opened.append(1)) == fast
    monkeypatch.undo()
    assert len(opened) == 2  # once per Optuna file read through Optuna
    assert [(s.name, s.storage.rsplit("/", 1)[1]) for s in fast] == [
        ("other", "b.db"), ("many", "many.db"), ("empty", "many.db"),
    ]  # fmt: skip
    many = fast[1]
    assert many.counts == {"RUNNING": 1, "COMPLETE": 3, "PRUNED": 1, "FAIL": 1, "WAITING": 1}
    assert many.best_value == float("inf") and many.test_accuracy == 0.75
    assert many.spent.over_limits == 1 and many.spent.epochs == 5
    assert many.spent == spent(optuna.load_study(study_name="many", storage=url).trials)
    assert (tmp_path / "other-app.db").read_bytes() == before  # no table added
    listed = _cli_listing(tmp_path, monkeypatch, through_optuna=False)
    assert listed == _cli_listing(tmp_path, monkeypatch, through_optuna=True)
    assert "3 complete, 1 pruned, 1 fail" in listed and "0.7500" in listed


def test_an_unknown_schema_is_read_through_optuna(tmp_path, monkeypatch):
    url = _every_kind_of_study(tmp_path)
    monkeypatch.setattr(tables, "REVISION", "v9.9.9.a")  # a schema this reader does not know
    with pytest.raises(UnknownSchema, match="v3.2.0.a"):
        read_studies(tmp_path / "many.db")
    opened = []
    found = list_studies(None, tmp_path, before_optuna=lambda: opened.append(1))
    assert len(opened) == 2 and [s.name for s in found] == ["other", "many", "empty"]
    assert found[1].counts["COMPLETE"] == 3
    monkeypatch.undo()
    assert list_studies(url) == found[1:]  # --storage: through Optuna, the same


def test_a_real_study_lists_the_same_both_ways(finalized, tmp_path, monkeypatch):
    studies_dir, _ = finalized
    folder = tmp_path / "studies"
    shutil.copytree(studies_dir, folder, ignore=shutil.ignore_patterns("cache"))
    (info,) = list_studies(None, folder)
    assert info.test_accuracy is not None and info.spent.epochs > 0
    listed = _cli_listing(folder, monkeypatch, through_optuna=False)
    assert listed == _cli_listing(folder, monkeypatch, through_optuna=True)
    assert "fin" in listed and f"{info.test_accuracy:.4f}" in listed


def test_studies_imports_no_optuna(tmp_path):
    """The listing's time is Optuna's import, SQLAlchemy's and alembic's: none of them load."""
    _every_kind_of_study(tmp_path)
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from automl.cli import app\n"
        f"result = CliRunner().invoke(app, ['studies', '--studies-dir', {str(tmp_path)!r}])\n"
        "heavy = ('optuna', 'sqlalchemy', 'alembic', 'numpy')\n"
        "print(json.dumps([result.exit_code, [m for m in heavy if m in sys.modules]]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, []]
