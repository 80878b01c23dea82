"""One exception root; the CLI turns each into a one-line message and exit code 2."""


class AutoMLError(Exception):
    """Base of every error automl raises on purpose (bad input, missing files, ...)."""

    exit_code = 2


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
