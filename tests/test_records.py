"""What automl stores is read and written through its typed records only: the study and
trial records (automl/study/record.py), the model file (automl/modelfile.py) and the data
check summary (automl/data/check_summary.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import automl
from automl.data.check_summary import DataCheckSummary
from automl.study.record import FinalRun, TrialRecord

ROOT = Path(automl.__file__).resolve().parent
RECORDS = {"study/record.py", "modelfile.py", "data/check_summary.py"}
WRITERS = {"set_user_attr", "set_trial_user_attr", "set_system_attr"}


def stored_key_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """Lines that read a user attribute by its key (`x.user_attrs[...]`,
    `x.user_attrs.get(...)`) or write one (`set_user_attr(...)`)."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "user_attrs"
        ):
            found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            reads = (
                func.attr in ("get", "setdefault", "pop")
                and isinstance(func.value, ast.Attribute)
                and func.value.attr == "user_attrs"
            )
            if reads or func.attr in WRITERS:
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_check_sees_each_way_of_using_a_key():
    code = """
a = t.user_attrs["history"]
b = study.user_attrs.get("final_runs", [])
trial.set_user_attr("wall_time", 1.0)
storage.set_trial_user_attr(1, key, 2)
ok = Record.from_attrs(study.user_attrs)
"""
    assert [line for line, _ in stored_key_uses(ast.parse(code))] == [2, 3, 4, 5]


def test_only_the_records_read_or_write_stored_keys():
    outside = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in RECORDS:
            continue
        uses = stored_key_uses(ast.parse(path.read_text(), rel))
        if uses:
            outside[rel] = uses
    assert outside == {}, "read or written outside the records: " + repr(outside)


def test_only_the_model_file_record_loads_model_pt():
    """torch.load elsewhere reads other files: the feature cache and pretrained weights."""
    loaders = set()
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                loaders.add(path.relative_to(ROOT).as_posix())
    assert loaders == {
        "modelfile.py", "train/features.py", "models/pretrained.py", "study/checkpoints.py"
    }  # fmt: skip


def test_trial_record_reads_what_it_writes_and_refuses_unknown_fields():
    import optuna

    study = optuna.create_study()
    trial = study.ask()
    TrialRecord.note(trial, history=[{"val_acc": 0.5}], wall_time=2.0, over_limits=["max_params"])
    record = TrialRecord.of(trial)
    assert record.history == [{"val_acc": 0.5}] and record.wall_time == 2.0
    assert record.over_limits == ["max_params"] and record.epochs_run is None
    assert record.measured("params") is None
    with pytest.raises(TypeError, match="no field wal_time"):
        TrialRecord.note(trial, wal_time=1.0)


def test_final_run_keeps_the_flat_stored_form():
    stored = {"run": 1, "forced": False, "trial": 3, "val_accuracy": 0.9, "test_loss": 0.3,
              "accuracy": 0.8, "f1_macro": 0.7, "n": 10, "epochs": 2, "seed": 3, "device": "cpu",
              "precision": "fp32", "precision_reason": "r", "memory_format": "contiguous",
              "threads": 1, "train_images": 5, "test_images": 10, "finished_at": "t",
              "val_sd": 0.01, "val_runs": [3, 7], "params": {"lr": 0.1}}  # fmt: skip
    run = FinalRun.from_dict(stored)
    assert run.accuracy == 0.8 and run.metrics == {"accuracy": 0.8, "f1_macro": 0.7, "n": 10}
    assert run.to_dict(history=False) == stored
    assert list(run.to_dict(history=False)) == list(stored)  # the same order as ever


def test_data_check_summary_round_trips_and_empty_is_none():
    summary = DataCheckSummary(1, 2, 3, 4, 0, 0, 10, ran="t", dedupe=True, excluded=3)
    assert DataCheckSummary.from_dict(summary.to_dict()) == summary
    assert "excluded" not in DataCheckSummary(1, 2, 3, 4, 0, 0, 10).to_dict()
    assert DataCheckSummary.from_dict({}) is None
