"""automl: search, train and honestly score CNN image classifiers with Optuna.

import automl
study = automl.search("scratch_cnn", trials=12, epochs=4, study="demo")
result = automl.finalize("demo")
"""

from automl.config import DataConfig, OptimConfig, TrialConfig
from automl.errors import (
    AutoMLError,
    ConfigError,
    DataError,
    ModelFileError,
    SpaceError,
    StorageError,
    StudyError,
    TrainingError,
)
from automl.finalize import FinalResult, finalize
from automl.models import create_model, list_models, register_model
from automl.predict import load_model, predict
from automl.spaces import get_space, list_spaces, register_space
from automl.study.listing import list_studies
from automl.study.search import search

__version__ = "0.1.0"

__all__ = [
    "AutoMLError",
    "ConfigError",
    "DataConfig",
    "DataError",
    "FinalResult",
    "ModelFileError",
    "OptimConfig",
    "SpaceError",
    "StorageError",
    "StudyError",
    "TrainingError",
    "TrialConfig",
    "create_model",
    "finalize",
    "get_space",
    "list_models",
    "list_spaces",
    "list_studies",
    "load_model",
    "predict",
    "register_model",
    "register_space",
    "search",
]
