"""The CUDA path, end to end: run by `make gpu-check` on a machine with a GPU, skipped with a
reason elsewhere. `make test` collects them too (tests/gpu/test_markers.py checks that each
carries the `cuda` marker and the skip), so they cannot rot unseen.

Every piece of logic here that a CPU can run is also tested on the CPU: the out-of-memory
handling (tests/study/test_out_of_memory.py), staged batches equal to resident ones
(tests/data/test_batches.py), the precision `auto` picks (tests/train/test_precision.py).
"""

from __future__ import annotations

import gc
import json
import math
import os

import optuna
import pytest
import torch
from optuna.trial import TrialState

import automl
from automl.data import batches as batches_module
from automl.data import open_source
from automl.study import objective as objective_module
from automl.train import fit as fit_module

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="no CUDA device: these run on a GPU machine (make gpu-check)",
    ),
]
TINY = {"epochs": 3, "pruner": "none", "resolution": 32, "device": "cuda", "recheck": 0}


def picked_by_auto() -> str:
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


@pytest.mark.parametrize("precision", ["auto", "fp16"])
def test_search_and_finalize_on_cuda(tmp_path, precision):
    """A search and its finalize on the GPU, in the precision `auto` picks (bf16 with native
    support, else fp16 with loss scaling) and in fp16 with its GradScaler."""
    expected = picked_by_auto() if precision == "auto" else "fp16"
    study = automl.search(study="gpu", trials=3, precision=precision, studies_dir=tmp_path, **TINY)
    done = completed(study)
    assert len(done) == 3, [t.state for t in study.trials]
    for trial in done:
        assert trial.user_attrs["device"].startswith("cuda")
        assert trial.user_attrs["precision"] == expected
        assert all(math.isfinite(row["train_loss"]) for row in trial.user_attrs["history"])
    assert max(t.value for t in done) > 0.5  # ten digits: chance is 0.1
    final = automl.finalize("gpu", studies_dir=tmp_path, device="cuda", precision=precision)
    scored = json.loads(final.metrics_path.read_text())
    assert scored["device"].startswith("cuda") and scored["precision"] == expected
    assert final.test_accuracy > 0.5
    assert final.model_path.with_suffix(".pt2").is_file()  # the standalone model, from the GPU


def test_resident_and_staged_pools_give_the_same_batches_and_results(tmp_path, monkeypatch):
    """The uint8 pool on the device (it fits: the default) and forced through the pinned
    staging buffer (RESIDENT_SHARE 0: as if it did not fit) yield the very same batches, and
    the same search trains to the same figures."""
    pool = open_source().train_pool(32, tmp_path / "cache")
    images, labels = pool.images[:300], pool.labels[:300]

    def epochs(where: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
        b = batches_module.Batches(
            images.to(where),
            labels.to(where),
            64,
            mean=(0.5,),
            std=(0.25,),
            device="cuda",
            shuffle=True,
            augment="strong",
            generator=torch.Generator().manual_seed(3),
        )
        assert b.resident == (where.type == "cuda")
        return [(x.cpu(), y.cpu()) for _ in range(2) for x, y in b]

    resident, staged = epochs(torch.device("cuda")), epochs(torch.device("cpu"))
    assert len(resident) == len(staged) == 10
    for (xr, yr), (xs, ys) in zip(resident, staged, strict=True):
        assert torch.equal(xr, xs) and torch.equal(yr, ys)

    seen: list[bool] = []

    class Watched(batches_module.Batches):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self.resident)

    monkeypatch.setattr(fit_module, "Batches", Watched)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    common = {"trials": 2, "seed": 0, "studies_dir": tmp_path, **TINY}
    on_device = automl.search(study="resident", **common)
    assert seen and all(seen)
    seen.clear()
    monkeypatch.setattr(batches_module, "RESIDENT_SHARE", 0.0)
    through_host = automl.search(study="staged", **common)
    assert seen and not any(seen)
    for a, b in zip(completed(on_device), completed(through_host), strict=True):
        assert a.params == b.params
        for ra, rb in zip(a.user_attrs["history"], b.user_attrs["history"], strict=True):
            assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-2)
            assert abs(ra["val_acc"] - rb["val_acc"]) <= 0.01  # 3 of 288 images at most


TOO_BIG_FIRST = '''
from automl import DataConfig, OptimConfig, TrialConfig, register_space
from automl.models.scratch_cnn import ScratchCNNConfig


@register_space("too_big_first", portfolio=[{"size": "huge"}, {"size": "small"}])
def too_big_first(trial):
    """First a model far too big for any card: 512 filters on 1024 images of 384 px (its
    first activation alone is over 70 GB in half precision); then a small one."""
    huge = trial.suggest_categorical("size", ["huge", "small"]) == "huge"
    return TrialConfig(
        model=ScratchCNNConfig(base_filters=512 if huge else 16),
        optim=OptimConfig(name="adamw", lr=1e-3),
        data=DataConfig(resolution=384 if huge else 32, batch_size=1024 if huge else 64),
    )
'''


def test_a_model_too_big_for_the_card_fails_and_the_next_trial_runs(tmp_path, monkeypatch):
    space = tmp_path / "too_big_first.py"
    space.write_text(TOO_BIG_FIRST)
    allocated: dict[str, list[int]] = {"built": [], "released": []}
    build, release = fit_module.build_model, objective_module.release_memory

    def building(*args, **kwargs):
        allocated["built"].append(torch.cuda.memory_allocated())
        return build(*args, **kwargs)

    def releasing(device: torch.device) -> None:
        release(device)
        allocated["released"].append(torch.cuda.memory_allocated())

    monkeypatch.setattr(fit_module, "build_model", building)
    monkeypatch.setattr(objective_module, "release_memory", releasing)
    study = automl.search(
        str(space), study="oom", trials=2, epochs=1, pruner="none", device="cuda",
        studies_dir=tmp_path, recheck=0,
    )  # fmt: skip
    first, second = study.trials[:2]
    assert [first.state, second.state] == [TrialState.FAIL, TrialState.COMPLETE]
    assert first.params == {"size": "huge"} and second.params == {"size": "small"}
    reason = first.user_attrs["fail_reason"]
    assert reason.startswith("OutOfMemoryError: CUDA out of memory. Tried to allocate ")
    assert " holds " in reason and "\n" not in reason and len(reason) < 200, reason
    assert reason.endswith(": a smaller model, batch_size or resolution may fit")
    # what the failed trial allocated was given back before the next one was built
    assert len(allocated["released"]) == 1
    assert allocated["released"][0] <= allocated["built"][0] + 64 * 2**20
    assert second.value is not None and first.value is None  # a crash is never a score
    gc.collect()


def test_two_workers_on_one_gpu(tmp_path, monkeypatch):
    """`--workers 2` with one GPU visible: both worker processes train on it at once."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible.split(",")[0] if visible else "0")
    study = automl.search(study="two", trials=6, workers=2, studies_dir=tmp_path, **TINY)
    done = completed(study)
    assert len(done) >= 6
    assert not [t for t in study.trials if t.state == TrialState.FAIL]
    workers = {t.user_attrs["worker"] for t in done}
    assert len(workers) == 2, workers  # both workers ran trials
    gpu = os.environ["CUDA_VISIBLE_DEVICES"]
    assert all(w.endswith(f" gpu {gpu}") for w in workers), workers
    assert all(t.user_attrs["device"].startswith("cuda") for t in done)
