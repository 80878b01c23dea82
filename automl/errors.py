"""One exception root; the CLI turns each into a one-line message and exit code 2.

Messages name options as the command line spells them (`--force`, `--test-dir=DIR`); from
Python, `str(error)` spells them as arguments (`force=True`, `test_dir=DIR`). The CLI prints
`error.cli_message`. One message, two spellings."""

import re

# --name, --name=value, or --name METAVAR (DIR, FILE, PATH, N, ...)
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(=\S+| [A-Z][A-Z_]*\b)?")
# The one table from option to flag. An option `test_dir` is the flag `--test-dir`; a switch
# (a yes/no option) is the flag that turns it from its default: `--force` is force=True,
# `--no-pretrained` is pretrained=False.
SWITCHES = {
    "force": True,
    "dedupe": True,
    "offline": True,
    "pretrained": False,
    "portfolio": False,
    "upload": False,
}


def flag(option: str) -> str:
    """How the command line spells `option`: `test_dir` -> `--test-dir`, `pretrained` ->
    `--no-pretrained` (a switch spells the value it sets)."""
    name = option.replace("_", "-")
    return f"--no-{name}" if SWITCHES.get(option) is False else f"--{name}"


def python_spelling(message: str) -> str:
    """`--force` -> `force=True`, `--test-dir DIR` -> `test_dir=DIR`, `--epochs=3` ->
    `epochs=3`; commands quoted in backticks (`automl finalize --study X`) stay as they are."""

    def spell(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        option = name.removeprefix("no-").replace("-", "_")
        if value is None and option in SWITCHES and flag(option) == f"--{name}":
            return f"{option}={SWITCHES[option]}"
        return name.replace("-", "_") + ("=" + value.lstrip("= ") if value else "")

    parts = message.split("`")  # odd parts are quoted
    return "`".join(p if i % 2 else _FLAG.sub(spell, p) for i, p in enumerate(parts))


class AutoMLError(Exception):
    """Base of every error automl raises on purpose (bad input, missing files, ...)."""

    exit_code = 2

    def __str__(self) -> str:
        return python_spelling(self.cli_message)

    def __format__(self, spec: str) -> str:
        """Inside another message (f"... {exc}") the flags stay: the outer error spells them."""
        return format(self.cli_message, spec)

    @property
    def cli_message(self) -> str:
        """The message with options spelled as flags, for the command line."""
        return super().__str__()


class DataError(AutoMLError):
    """The dataset cannot be used as given (missing root, no classes, mismatched splits)."""


class SpaceError(AutoMLError):
    """A search space cannot be found, imported, or returned something that is not a config."""


class ConfigError(AutoMLError):
    """A name or value in a config is not one of the allowed choices."""


class StorageError(AutoMLError):
    """The study storage URL is malformed or the study is not where it was expected."""


class StudyError(AutoMLError):
    """The study is in a state that does not allow the request (no completed trial, ...)."""


class ModelFileError(AutoMLError):
    """A model file is missing or was not written by automl."""


class ModelCodeError(ModelFileError):
    """A model file needs the code of a user's space file that is missing or has changed."""


class TrainingError(AutoMLError):
    """Training cannot go on (e.g. the loss became NaN or infinite)."""


class WeightsError(AutoMLError):
    """Pretrained weights were asked for but are neither on this machine nor downloadable."""


class ReportError(AutoMLError):
    """A report cannot be written, or optuna-dashboard cannot be started."""
