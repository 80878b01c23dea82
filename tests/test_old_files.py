"""A study and a model.pt written by automl before its stored data had typed records
(tests/fixtures/old_study, made at 81fa2b6 by tests/fixtures/make_fixtures.py) still load:
the study resumes and finalizes again, and its model file predicts and exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
from optuna.trial import TrialState

import automl
from automl.data.check_summary import DataCheckSummary
from automl.modelfile import ModelFile
from automl.study.listing import spent
from automl.study.record import FinalRun, StudyRecord, TrialRecord

OLD = Path(__file__).parent / "fixtures" / "old_study"
TINY = {"resolution": 32, "epochs": 2, "pruner": "none", "seed": 0}  # as the study was made


def _study(studies_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name="old", storage=f"sqlite:///{studies_dir / 'old.db'}")


def test_old_records_read(tmp_path):
    shutil.copytree(OLD, tmp_path / "s")
    study = _study(tmp_path / "s")
    record = StudyRecord.from_study(study)
    assert record.space == "scratch_cnn" and record.limits == {"max_params": 60000}
    assert DataCheckSummary.from_dict(record.data_check) is None  # the digits: no check
    trials = [TrialRecord.of(t) for t in study.trials]
    assert [t.epochs_run for t in trials] == [2, 0, 2]
    assert trials[1].over_limits == ["max_params"] and trials[1].params > 60000
    assert len(trials[0].history) == 2 and trials[0].worker
    assert spent(study.trials).over_limits == 1
    (run,) = FinalRun.stored(study)
    assert run.run == 1 and run.trial == 2 and 0 < run.accuracy <= 1 and run.history is None
    model = ModelFile.read(tmp_path / "s" / "old" / "final" / "model.pt")
    assert model.arch == "scratch_cnn" and model.study == "old" and model.trial == 2
    assert model.space_file is None and model.classes == [str(i) for i in range(10)]


def test_old_model_file_predicts_and_exports(tmp_path, digit_png):
    shutil.copytree(OLD, tmp_path / "s")
    final = tmp_path / "s" / "old" / "final"
    (pred,) = automl.predict(final / "model.pt", [digit_png], top_k=2)
    assert len(pred.top) == 2 and pred.error is None
    out = automl.export("old", format="pt2", studies_dir=tmp_path / "s")
    assert out == final / "model.pt2" and out.is_file()
    (again,) = automl.predict(out, [digit_png], top_k=2)
    assert [label for label, _ in again.top] == [label for label, _ in pred.top]


def test_old_study_resumes_and_finalizes_again(tmp_path, one_thread, digit_png):
    studies_dir = tmp_path / "s"
    shutil.copytree(OLD, studies_dir)
    automl.search("scratch_cnn", study="old", trials=4, studies_dir=studies_dir, threads=1, **TINY)
    study = _study(studies_dir)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    searched = [t for t in finished if TrialRecord.of(t).recheck_of is None]
    assert len(searched) == 4
    assert TrialRecord.of(study.trials[3]).epochs_run in (0, 2)  # trained, or over the limit
    # made before re-checks: its next run takes the default for its 288-image split
    assert StudyRecord.from_study(study).recheck == 3
    done = [t for t in searched if t.state == TrialState.COMPLETE]
    best = sorted(done, key=lambda t: -t.value)[:3]
    checked = [TrialRecord.of(t).recheck_of for t in finished if t not in searched]
    assert sorted(checked) == sorted(t.number for t in best)
    result = automl.finalize("old", studies_dir=studies_dir, force=True, threads=1)
    assert result.run == 2 and result.forced
    runs = FinalRun.stored(_study(studies_dir))
    assert [r.run for r in runs] == [1, 2] and runs[-1].accuracy == result.test_accuracy
    (pred,) = automl.predict(result.model_path, [digit_png], top_k=1)
    assert len(pred.top) == 1
