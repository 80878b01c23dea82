"""Models: the registry (automl/models/registry.py) and the built-in models it holds."""

from __future__ import annotations

from automl.models import finetune, resnet, scratch_cnn  # noqa: F401 (importing registers them)
from automl.models.registry import (
    ModelEntry,
    config_from_dict,
    create_model,
    is_builtin_model,
    list_models,
    model_config_class,
    register_model,
)

__all__ = [
    "ModelEntry",
    "config_from_dict",
    "create_model",
    "is_builtin_model",
    "list_models",
    "model_config_class",
    "register_model",
]
