"""`--precision auto` and the memory format, on faked machines: CPUs with and without native
bf16, GPUs with and without bf16; measurements cached per machine and reused."""

import json
import logging

import pytest
import torch

from automl.models import create_model
from automl.models.scratch_cnn import ScratchCNNConfig
from automl.train import machine, measure
from automl.train.memory_format import architecture_key, channels_last_pays
from automl.train.precision import resolve_precision

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """No measurement cache objects carried over from other tests (as in a new process)."""
    monkeypatch.setattr(machine, "_caches", {})


@pytest.fixture
def measured(monkeypatch):
    """Fake the bf16 micro-benchmark; returns the list of its calls."""
    calls: list[dict] = []

    def fake(timings: dict[str, float]):
        def measure_bf16(device):
            calls.append(timings)
            return dict(timings)

        monkeypatch.setattr(measure, "measure_bf16", measure_bf16)

    fake.calls = calls
    return fake


def native_bf16(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(machine, "cpu_bf16_native", lambda: native)


def test_cpu_without_native_bf16_trains_in_fp32_and_measures_nothing(monkeypatch, tmp_path):
    native_bf16(monkeypatch, False)
    monkeypatch.setattr(measure, "measure_bf16", lambda device: pytest.fail("measured"))
    p = resolve_precision("auto", CPU, tmp_path)
    assert p.name == "fp32" and p.dtype is None
    assert "no native bf16" in p.reason
    assert not p.grad_scaler().is_enabled()
    with p.autocast():
        assert torch.randn(2, 2).matmul(torch.randn(2, 2)).dtype == torch.float32


def test_cpu_with_native_bf16_measured_faster_trains_in_bf16(monkeypatch, tmp_path, measured):
    native_bf16(monkeypatch, True)
    measured({"fp32": 0.040, "bf16": 0.020})
    p = resolve_precision("auto", CPU, tmp_path)
    assert p.name == "bf16" and p.dtype == torch.bfloat16
    assert "measured faster" in p.reason and "20.0 ms in bf16 vs 40.0 ms in fp32" in p.reason
    assert not p.grad_scaler().is_enabled()
    with p.autocast():
        assert torch.randn(2, 2).matmul(torch.randn(2, 2)).dtype == torch.bfloat16


def test_native_bf16_that_is_not_faster_stays_fp32(monkeypatch, tmp_path, measured):
    native_bf16(monkeypatch, True)
    measured({"fp32": 0.040, "bf16": 0.038})  # within the margin: fp32 is the safer choice
    p = resolve_precision("auto", CPU, tmp_path)
    assert p.name == "fp32" and "not faster" in p.reason


def test_measurement_is_cached_per_machine_and_reused(monkeypatch, tmp_path, measured):
    native_bf16(monkeypatch, True)
    measured({"fp32": 0.040, "bf16": 0.020})
    assert resolve_precision("auto", CPU, tmp_path).name == "bf16"
    assert resolve_precision("auto", CPU, tmp_path).name == "bf16"
    assert len(measured.calls) == 1  # the second run in this process reused it
    (cache_file,) = tmp_path.glob("machine-*.json")
    assert json.loads(cache_file.read_text())["bf16_step"] == {"fp32": 0.040, "bf16": 0.020}

    monkeypatch.setattr(machine, "_caches", {})  # a new process on the same machine
    monkeypatch.setattr(measure, "measure_bf16", lambda device: pytest.fail("measured again"))
    assert resolve_precision("auto", CPU, tmp_path).name == "bf16"


def test_another_machine_or_torch_measures_anew(monkeypatch, tmp_path, measured):
    native_bf16(monkeypatch, True)
    measured({"fp32": 0.040, "bf16": 0.020})
    resolve_precision("auto", CPU, tmp_path)
    monkeypatch.setattr(machine, "_caches", {})
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    resolve_precision("auto", CPU, tmp_path)
    assert len(measured.calls) == 2
    assert len(list(tmp_path.glob("machine-*.json"))) == 2


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"bf16_step": "fast"}'])
def test_corrupt_cache_is_ignored_with_a_warning(monkeypatch, tmp_path, measured, caplog, content):
    native_bf16(monkeypatch, True)
    measured({"fp32": 0.040, "bf16": 0.020})
    path = tmp_path / f"machine-{machine.machine_key(CPU)}.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="automl.train.machine"):
        assert resolve_precision("auto", CPU, tmp_path).name == "bf16"
    assert len(measured.calls) == 1  # measured again
    if content != '{"bf16_step": "fast"}':  # that one is valid JSON with a wrong value
        assert "ignoring the unreadable measurement cache" in caplog.text
    assert json.loads(path.read_text())["bf16_step"]["bf16"] == 0.020  # replaced


def test_unwritable_cache_folder_still_resolves(monkeypatch, tmp_path, measured, caplog):
    native_bf16(monkeypatch, True)
    measured({"fp32": 0.040, "bf16": 0.020})
    blocker = tmp_path / "file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING, logger="automl.train.machine"):
        assert resolve_precision("auto", CPU, blocker / "cache").name == "bf16"
    assert "could not save a measurement" in caplog.text


@pytest.mark.parametrize(("bf16", "name", "scaled"), [(True, "bf16", False), (False, "fp16", True)])
def test_cuda_auto_is_bf16_where_supported_else_fp16_with_scaling(monkeypatch, bf16, name, scaled):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(measure, "measure_bf16", lambda device: pytest.fail("measured"))
    p = resolve_precision("auto", torch.device("cuda"))
    assert p.name == name and p.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[name]
    assert p.reason
    if torch.cuda.is_available():  # a GradScaler for CUDA can only be built where it exists
        assert p.grad_scaler().is_enabled() is scaled


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("forced", ["fp32", "bf16"])
def test_a_forced_precision_is_kept_on_either_cpu(monkeypatch, native, forced):
    native_bf16(monkeypatch, native)
    monkeypatch.setattr(measure, "measure_bf16", lambda device: pytest.fail("measured"))
    p = resolve_precision(forced, CPU)
    assert p.name == forced and "asked for" in p.reason


def small_model(kernel_size: int = 3) -> torch.nn.Module:
    cfg = ScratchCNNConfig(base_filters=8, kernel_size=kernel_size, dense_units=16)
    return create_model(cfg, num_classes=3, in_chans=3, resolution=16)


@pytest.mark.parametrize(("cl_seconds", "expected"), [(0.5, True), (0.95, False), (2.0, False)])
def test_channels_last_only_where_it_measures_faster(monkeypatch, tmp_path, cl_seconds, expected):
    calls = []

    def fake(model, shape, device, dtype, train=True):
        calls.append(shape)
        return {"contiguous": 1.0, "channels_last": cl_seconds}

    monkeypatch.setattr(measure, "measure_memory_format", fake)
    p = resolve_precision("fp32", CPU, tmp_path)
    shape = (8, 3, 16, 16)
    assert channels_last_pays(small_model(), shape, p) is expected
    assert channels_last_pays(small_model(), shape, p) is expected  # same architecture: cached
    assert len(calls) == 1
    channels_last_pays(small_model(kernel_size=5), shape, p)  # another architecture: measured
    assert len(calls) == 2


def test_memory_format_measurement_is_real_and_leaves_training_unchanged(tmp_path):
    """The real probe times both layouts on copies and puts the RNG back."""
    p = resolve_precision("fp32", CPU, tmp_path)
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    channels_last_pays(model, (4, 3, 16, 16), p)
    seconds = p.measurements().get(architecture_key(model, (4, 3, 16, 16), p, True))
    assert seconds["contiguous"] > 0 and seconds["channels_last"] > 0
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_real_bf16_measurement_times_both():
    seconds = measure.measure_bf16(CPU)
    assert seconds.keys() == {"fp32", "bf16"} and min(seconds.values()) > 0


def test_capability_line_names_what_decides():
    line = machine.capability_line()
    assert f"torch {torch.__version__}" in line and "ATen " in line
    assert ("bf16 native" in line) or ("bf16 emulated" in line)
