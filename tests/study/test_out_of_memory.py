"""A trial that runs out of device memory, on the CPU: torch's OutOfMemoryError raised by hand
where a too-big model raises it on a GPU (tests/gpu/test_cuda.py runs the real one)."""

from __future__ import annotations

import gc
import weakref

import optuna
import torch
from optuna.trial import TrialState
from typer.testing import CliRunner

from automl.cli import app
from automl.train import fit as fit_module
from automl.train import memory

TORCH_SAYS = (
    "CUDA out of memory. Tried to allocate 268.44 GiB. GPU 0 has a total capacity of 15.77 GiB "
    "of which 14.2 GiB is free. Of the allocated memory 1.02 GiB is allocated by PyTorch. See "
    "documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html)"
)
REASON = (
    "OutOfMemoryError: CUDA out of memory. Tried to allocate 268.44 GiB: a smaller model, "
    "batch_size or resolution may fit"
)


def test_out_of_memory_fails_the_trial_in_one_line_frees_it_and_the_next_runs(
    tmp_path, monkeypatch
):
    models: list[weakref.ref] = []
    alive_at_next_build: list[bool] = []
    released: list[torch.device] = []
    build, train_one_epoch = fit_module.build_model, fit_module.train_one_epoch

    def building(*args, **kwargs):
        alive_at_next_build.extend(m() is not None for m in models)
        model = build(*args, **kwargs)
        models.append(weakref.ref(model))
        return model

    def training(model, *args, **kwargs):
        if len(models) == 1:  # the first trial's model is "too big for the card"
            raise torch.OutOfMemoryError(TORCH_SAYS)
        return train_one_epoch(model, *args, **kwargs)

    def releasing(device: torch.device) -> None:
        released.append(device)
        gc.collect()

    monkeypatch.setattr(fit_module, "build_model", building)
    monkeypatch.setattr(fit_module, "train_one_epoch", training)
    monkeypatch.setattr("automl.study.objective.release_memory", releasing)
    result = CliRunner().invoke(
        app,
        ["search", "--study", "oom", "--trials", "2", "--epochs", "1", "--pruner", "none",
         "--recheck", "0", "--studies-dir", str(tmp_path), "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    study = optuna.load_study(study_name="oom", storage=f"sqlite:///{tmp_path}/oom.db")
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert study.trials[0].user_attrs["fail_reason"] == REASON
    assert study.trials[1].value is not None  # a crash is never a score: the next trial's is
    said = [line for line in result.output.splitlines() if "268.44 GiB" in line]
    assert said and all(line.count("Tried to allocate") == 1 for line in said)
    assert any(line.startswith("#0") and "FAIL" in line for line in said), result.output
    assert released == [torch.device("cpu")]
    assert alive_at_next_build == [False]  # the failed trial's model was gone


def test_the_reason_on_a_cuda_device_says_how_much_it_holds(monkeypatch):
    class Props:
        total_memory = 16 * 2**30

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: Props)
    older = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.77 GiB total capacity)"
    exc = memory.TrialOutOfMemory.of(torch.OutOfMemoryError(older), torch.device("cuda", 0))
    assert isinstance(exc, torch.OutOfMemoryError)  # the workers' catch= takes it
    assert exc.reason == (
        "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (cuda:0 holds "
        "16.0 GiB): a smaller model, batch_size or resolution may fit"
    )
    bare = memory.TrialOutOfMemory.of(torch.OutOfMemoryError(""), torch.device("cpu"))
    assert str(bare) == "out of memory: a smaller model, batch_size or resolution may fit"
