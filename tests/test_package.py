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
