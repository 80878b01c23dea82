"""One message, two spellings: flags on the command line, keyword arguments from Python."""

import pytest

from automl.errors import StudyError, python_spelling


@pytest.mark.parametrize(
    ("cli", "python"),
    [
        ("pass --force to re-score", "pass force=True to re-score"),
        ("leave --test-dir out", "leave test_dir out"),
        ("pass --test-dir DIR", "pass test_dir=DIR"),
        ("was made with --epochs=1, not 3", "was made with epochs=1, not 3"),
        ("drop --weights, --no-pretrained", "drop weights, pretrained=False"),
        ("run `automl finalize --study x` first", "run `automl finalize --study x` first"),
        ("sqlite:///a--b.db", "sqlite:///a--b.db"),
    ],
)
def test_python_spelling(cli, python):
    assert python_spelling(cli) == python


def test_an_error_carries_both():
    exc = StudyError("study 'x' was already scored; pass --force to re-score")
    assert str(exc) == "study 'x' was already scored; pass force=True to re-score"
    assert exc.cli_message.endswith("pass --force to re-score")
