"""The package's public surface loads lazily and completely."""

import subprocess
import sys

import automl


def test_every_export_resolves():
    assert sorted(automl.__all__) == sorted(automl._WHERE)
    for name in automl.__all__:
        assert getattr(automl, name) is not None


def test_import_is_light():
    """`import automl` (and so `automl --help`) must not pull torch in."""
    code = "import sys, automl; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
