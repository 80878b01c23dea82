"""Decoding reports its progress to whoever installed a hook; the CLI's bar shows images/s on
a terminal and stays silent in a log."""

import io
from pathlib import Path

from rich.console import Console

from automl.data import open_source
from automl.data.progress import report, reporting_to
from automl.display import DecodeBar

from .conftest import IGNORE_TV_DEPRECATION, MakeFolder


def test_nothing_is_reported_without_a_hook() -> None:
    report("decoding x", 1, 2)  # no hook installed: a no-op, not an error


@IGNORE_TV_DEPRECATION
def test_decoding_reports_every_image_up_to_the_total(
    make_folder: MakeFolder, tmp_path: Path
) -> None:
    calls: list[tuple[str, int, int]] = []
    with reporting_to(lambda *args: calls.append(args)):
        open_source(make_folder()).train_pool(16, tmp_path / "cache")
    what, _, total = calls[-1]
    assert what == "decoding train at 16 px" and total == 13  # every file, broken ones too
    assert [done for _, done, _ in calls] == list(range(total + 1))
    calls.clear()
    with reporting_to(lambda *args: calls.append(args)):  # from the cache: nothing decodes
        open_source(make_folder()).train_pool(16, tmp_path / "cache")
    assert calls == []


def _bar(terminal: bool) -> tuple[DecodeBar, io.StringIO]:
    text = io.StringIO()
    console = Console(file=text, force_terminal=terminal, width=120, soft_wrap=True)
    return DecodeBar(console), text


def test_the_bar_ends_in_one_line_with_images_per_second_on_a_terminal() -> None:
    bar, text = _bar(terminal=True)
    for done in range(0, 51):
        bar("decoding train at 64 px", done, 50)
    out = text.getvalue()
    assert "images/s" in out
    final = out.rstrip().splitlines()[-1]
    assert "decoding train at 64 px: 50 images in" in final and final.endswith("images/s)")


def test_the_bar_is_silent_in_a_log() -> None:
    bar, text = _bar(terminal=False)
    for done in range(0, 51):
        bar("decoding train at 64 px", done, 50)
    assert text.getvalue() == ""
