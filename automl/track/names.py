"""The trackers' names and what installs them, without importing any of them: settings and
the CLI check `--track` here before any study is made."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

from automl.errors import ConfigError

NEEDS = {  # --track name: (the module it imports, the package name in words)
    "mlflow": ("mlflow", "MLflow"),
    "wandb": ("wandb", "Weights & Biases"),
    "tensorboard": ("tensorboard", "TensorBoard"),
}
NONE = "none"  # --track none: track nothing (a rerun of a study that tracked)


def parse_track(given: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """`--track` (repeatable, or comma-separated) as a tuple of tracker names, each checked
    and installed; "none" alone, or an empty list: track nothing; None: not given."""
    if given is None:
        return None
    items = [given] if isinstance(given, str) else list(given)
    names: list[str] = []
    for item in items:
        for name in str(item).split(","):
            name = name.strip().lower()
            if name and name not in names:
                names.append(name)
    if NONE in names:
        if len(names) > 1:
            others = ", ".join(n for n in names if n != NONE)
            raise ConfigError(f"--track none tracks nothing; it cannot go with {others}")
        return ()
    for name in names:
        if name not in NEEDS:
            raise ConfigError(
                f"unknown tracker {name!r} for --track; choose from: {', '.join(NEEDS)}, none"
            )
    check_installed(names)
    return tuple(names)


def check_installed(names: Iterable[str]) -> None:
    """Refuse, in one line naming the extra, a tracker whose package is not installed."""
    for name in names:
        module, words = NEEDS[name]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"--track {name} needs {words}, which is not installed: "
                f"pip install 'automl[{name}]'"
            )
