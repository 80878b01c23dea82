"""Which heavy libraries each command loads, in a fresh interpreter (module names, not times).

The light commands (`--help`, `--version`, `studies`, `spaces`) load none of them; a search
in a scratch space loads no timm, matplotlib or torchvision; the report's and the
export's libraries load when those commands run, not before.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "timm", "matplotlib", "sklearn", "onnx", "onnxruntime", "scipy")

# Runs the command through typer's test runner in this interpreter, then lists what it loaded.
_RUN = f"""
import json, sys
from typer.testing import CliRunner
from automl.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({{
    "exit": result.exit_code,
    "output": result.output[-3000:],
    "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules),
}}))
"""


def loaded(*args: object) -> list[str]:
    """The heavy modules `automl ARGS` has loaded when it ends (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *map(str, args)], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["exit"] == 0, result["output"]
    return result["heavy"]


def test_import_automl_loads_nothing_heavy():
    code = f"import sys, automl; print([m for m in {HEAVY!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["studies"], ["spaces"], ["spaces", "scratch_cnn"]]
)
def test_light_commands_load_nothing_heavy(tmp_path, args):
    if args == ["studies"]:
        args = ["studies", "--studies-dir", tmp_path]
    assert loaded(*args) == []


def test_model_configs_load_no_torch_until_a_model_is_built():
    """Spaces build configs; the networks (and torch) load with the first model."""
    code = """
import sys
from automl.models import create_model
from automl.models.finetune import FinetuneConfig
from automl.models.resnet import ResNetConfig
from automl.models.scratch_cnn import ScratchCNNConfig
from automl.nn import NORMS
ResNetConfig(norm="group", groups=4), FinetuneConfig(freeze="last_k")
print("torch" in sys.modules)
create_model(ScratchCNNConfig(), num_classes=10)
print("torch" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


@pytest.fixture(scope="module")
def digits_study(tmp_path_factory):
    """A one-trial scratch_cnn study on the digits (its subprocess is the test itself)."""
    folder = tmp_path_factory.mktemp("studies")
    args = ["search", "--study", "s", "--trials", "1", "--epochs", "1", "--pruner", "none"]
    args += ["--recheck", "0"]
    return folder, loaded(*args, "--studies-dir", folder)


def test_scratch_search_loads_no_timm_matplotlib_or_torchvision(digits_study):
    _, heavy = digits_study
    assert "torch" in heavy  # it did train
    assert not {"timm", "matplotlib", "torchvision"} & set(heavy)


def test_studies_lists_a_real_study_without_torch(digits_study):
    folder, _ = digits_study
    assert loaded("studies", "--studies-dir", folder) == []


def test_report_and_export_load_their_libraries_when_they_run(digits_study, tmp_path):
    folder, _ = digits_study
    assert "matplotlib" in loaded("report", "--study", "s", "--studies-dir", folder)
    # export needs a finalized study; what its command loads before it runs is checked here
    code = "import sys, automl.cli, automl.exporting; print('onnx' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
