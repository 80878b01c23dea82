"""Report fixtures: the finalized digits study reported once; headless Chromium on demand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from automl.reporting import report


@pytest.fixture(scope="session")
def reported(finalized) -> tuple[Path, Path]:
    """(studies_dir, index.html) of the finalized digits study's report."""
    studies_dir, result = finalized
    return studies_dir, report(result.study, studies_dir=studies_dir)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's chromium, installed with apt-get when missing."""
    found = shutil.which("chromium")
    if found is None:
        try:
            subprocess.run(["apt-get", "update"], check=True, capture_output=True, timeout=600)
            subprocess.run(
                ["apt-get", "install", "-y", "chromium"],
                check=True,
                capture_output=True,
                timeout=1200,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"chromium is not installed and `apt-get install chromium` failed: {exc}")
        found = shutil.which("chromium")
        if found is None:
            pytest.skip("apt-get installed chromium but it is not on PATH")
    return found
