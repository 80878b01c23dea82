"""Report fixtures: the finalized digits study reported once; headless Chromium on demand."""

from __future__ import annotations

import os
import shutil
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
    """Path of chromium: `.ci/run` installs it, so under CI=true a missing one is a failure."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        why = "chromium is not installed (apt-get install chromium; .ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return found
