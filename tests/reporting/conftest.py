"""Report fixtures: the finalized digits study reported once; headless Chromium on demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.reporting import report


@pytest.fixture(scope="session")
def reported(finalized) -> tuple[Path, Path]:
    """(studies_dir, index.html) of the finalized digits study's report."""
    studies_dir, result = finalized
    return studies_dir, report(result.study, studies_dir=studies_dir)
