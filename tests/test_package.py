"""The package's public surface loads lazily and completely."""

import subprocess
import sys

import automl


def test_every_export_resolves_to_what_it_names():
    assert sorted(automl.__all__) == sorted(automl._WHERE)
    for name in automl.__all__:
        value = getattr(automl, name)
        assert getattr(value, "__name__", name) == name  # a function or class, never a module


def test_importing_every_submodule_shadows_no_export():
    """Importing `automl.X` binds X on the package: no submodule may share an export's name."""
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(automl.__path__, "automl."):
        importlib.import_module(info.name)
    for name in automl.__all__:
        assert callable(getattr(automl, name)), name


def test_import_is_light():
    """`import automl` (and so `automl --help`) must not pull torch in."""
    code = "import sys, automl; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# Imports each module as if it were the first one imported: every automl module is dropped from
# sys.modules before the next (third-party ones stay, so this takes seconds, not minutes).
_IMPORT_ALONE = """
import importlib, pkgutil, sys, traceback
import automl
names = [i.name for i in pkgutil.walk_packages(automl.__path__, "automl.")]
failed = []
for name in names:
    for loaded in [m for m in sys.modules if m == "automl" or m.startswith("automl.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print(len(names))
print("\\n".join(failed))
"""


def test_every_module_imports_alone():
    """No import cycle: each module loads when nothing of automl was loaded before it."""
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALONE], capture_output=True, text=True, check=True
    )
    count, *failed = out.stdout.strip().splitlines()
    assert int(count) > 50
    assert failed == []


def test_config_is_a_leaf():
    """Building a config needs neither torch nor the model registry."""
    code = (
        "import sys\n"
        "from automl.config import DataConfig, OptimConfig, TrialConfig\n"
        "TrialConfig(model=None, optim=OptimConfig(name='sgd'), data=DataConfig())\n"
        "print(sorted(m for m in sys.modules if m.startswith('automl.') or m == 'torch'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['automl.config', 'automl.errors', 'automl.registry']"
