"""Headless Chromium for the browser tests (the report, the MLflow UI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

FLAGS = [  # the closed network refuses anything else, many at a time
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Chromium with a fresh profile in `tmp_path`, and `args` (--dump-dom URL, ...)."""
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
