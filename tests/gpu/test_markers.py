"""`make test` collects the CUDA tests (they skip without a GPU) so that they cannot rot; this
checks what keeps them honest: each carries the `cuda` marker and a skip with a reason
where CUDA is missing, and `make gpu-check` selects them by that marker."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REQUIRED = {  # what issue 24 asks the GPU machine to check
    "test_search_and_finalize_on_cuda",
    "test_resident_and_staged_pools_give_the_same_batches_and_results",
    "test_a_model_too_big_for_the_card_fails_and_the_next_trial_runs",
    "test_two_workers_on_one_gpu",
}


def _cuda_module():
    spec = importlib.util.spec_from_file_location("cuda_tests", HERE / "test_cuda.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports cleanly without a GPU
    return module


def test_every_cuda_test_is_marked_and_skips_without_cuda(pytestconfig) -> None:
    module = _cuda_module()
    tests = {
        name: fn for name, fn in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("test_")
    }  # fmt: skip
    assert set(tests) >= REQUIRED
    marks = {mark.name: mark for mark in module.pytestmark}  # applies to every test in it
    assert set(marks) == {"cuda", "skipif"}
    skip = marks["skipif"]
    assert skip.args == (not torch.cuda.is_available(),)
    assert "no CUDA device" in skip.kwargs["reason"]
    for name, fn in tests.items():  # none unmarks itself or adds a mark that runs it anyway
        own = {mark.name for mark in getattr(fn, "pytestmark", [])}
        assert own <= {"parametrize"}, (name, own)
    registered = [line.split(":")[0] for line in pytestconfig.getini("markers")]
    assert "cuda" in registered  # --strict-markers would refuse an unregistered one


def _gpu_check():
    path = HERE.parents[1] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_runs_the_cuda_tests_by_their_marker() -> None:
    command = _gpu_check().pytest_command()
    assert ["-m", "cuda"] in [command[i : i + 2] for i in range(len(command))]
    assert (HERE.parents[1] / command[-1]).resolve() == HERE / "test_cuda.py"


def test_gpu_check_without_cuda_says_so_in_one_line_and_exits_0(monkeypatch, capsys) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _gpu_check().main([]) == 0
    assert capsys.readouterr().out == "no CUDA device: nothing to check\n"


def test_gpu_check_summary_line(tmp_path) -> None:
    check = _gpu_check()
    assert check.tally("....s\n5 passed, 1 skipped in 81.20s (0:01:21)\n") == "5 passed, 1 skipped"
    rows = [
        {"resolution": 64, "automl_s_per_epoch": 0.21, "automl_cell": "bf16 + CL",
         "bare_s_per_epoch": {"fp32": 0.4, "bf16 + CL": 0.2}, "fastest_bare": "bf16 + CL",
         "vs_limit": 1.05},
    ]  # fmt: skip
    line = check.summary("GPU X", "5 passed", rows, 95.4)
    assert line == (
        "gpu-check on GPU X: tests 5 passed; automl's epoch in bf16 + CL: 64 px 0.210 s vs "
        "bare 0.200 s = 1.05x (goal at most 1.15x); 95 s"
    )
    assert "did not finish" in check.summary("GPU X", "1 failed", [], 3.0)
    from automl.data import open_source

    photos = check.synthetic_photos(tmp_path / "photos", per_class=4)
    source = open_source(photos, photos / "val")
    assert source.classes == ("a", "b") and source.train_files == 8
    assert len(source.train_pool(16, tmp_path / "cache").labels) == 8  # every one decodes
