"""automl: search, train and honestly score CNN image classifiers with Optuna.

    import automl
    study = automl.search("scratch_cnn", trials=12, epochs=4, study="demo")
    result = automl.finalize("demo")
    automl.export("demo")  # studies/demo/final/model.onnx, runs without automl
    page = automl.report("demo")  # studies/demo/report/index.html

Names load on first use, so `automl --help` and small scripts don't pay for torch's import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "automl.config": ["DataConfig", "OptimConfig", "TrialConfig"],
    "automl.errors": [
        "AutoMLError",
        "ConfigError",
        "DataError",
        "ModelCodeError",
        "ModelFileError",
        "ReportError",
        "SpaceError",
        "StorageError",
        "StudyError",
        "TrainingError",
        "WeightsError",
    ],
    "automl.api": ["finalize"],
    "automl.study.finalize": ["FinalResult"],
    "automl.models": ["create_model", "list_models", "register_model"],
    "automl.inference": ["load_model", "predict"],
    "automl.exporting": ["export"],
    "automl.spaces": ["get_space", "list_spaces", "register_space"],
    "automl.reporting": ["report"],
    "automl.study.listing": ["list_studies"],
    "automl.study.search": ["search"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = [  # kept literal for linters and IDEs; tests check it against _EXPORTS
    "AutoMLError", "ConfigError", "DataConfig", "DataError", "FinalResult", "ModelCodeError",
    "ModelFileError", "OptimConfig", "ReportError", "SpaceError", "StorageError", "StudyError",
    "TrainingError", "TrialConfig", "WeightsError", "create_model", "export", "finalize",
    "get_space", "list_models", "list_spaces", "list_studies", "load_model", "predict",
    "register_model", "register_space", "report", "search",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'automl' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from automl.api import finalize
    from automl.config import DataConfig, OptimConfig, TrialConfig
    from automl.errors import (
        AutoMLError,
        ConfigError,
        DataError,
        ModelCodeError,
        ModelFileError,
        ReportError,
        SpaceError,
        StorageError,
        StudyError,
        TrainingError,
        WeightsError,
    )
    from automl.exporting import export
    from automl.inference import load_model, predict
    from automl.models import create_model, list_models, register_model
    from automl.reporting import report
    from automl.spaces import get_space, list_spaces, register_space
    from automl.study.finalize import FinalResult
    from automl.study.listing import list_studies
    from automl.study.search import search
