"""Search-space registry: plain functions `(trial) -> TrialConfig`, registered by name.

`get_space("scratch_cnn")` finds a built-in space (modules in the `search_spaces` package);
`get_space("path/to/my_space.py")` imports the user's own file, which either defines
`space(trial)` or registers exactly one space with `@register_space`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from automl.config import TrialConfig
from automl.errors import AutoMLError, SpaceError
from automl.registry import Registry

SpaceFn = Callable[[optuna.trial.BaseTrial], TrialConfig]


@dataclass(frozen=True)
class Space:
    name: str
    fn: SpaceFn
    grid: Mapping[str, Sequence[Any]] | None = None  # values for --sampler grid, when it has one
    file: str | None = None  # the user's file, for spaces that do not ship with automl
    description: str = field(default="", compare=False)

    def __call__(self, trial: optuna.trial.BaseTrial) -> TrialConfig:
        try:
            cfg = self.fn(trial)
        except (AutoMLError, optuna.TrialPruned, optuna.exceptions.OptunaError):
            raise
        except Exception as exc:  # a bug in the user's space: say where it came from
            raise SpaceError(f"space {self.name!r} raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(cfg, TrialConfig):
            raise SpaceError(
                f"space {self.name!r} returned {type(cfg).__name__}; it must return "
                "automl.TrialConfig(model=..., optim=..., data=...)"
            )
        return cfg

    def sample(
        self, seed: int = 0, fixed: Mapping[str, Any] | None = None
    ) -> tuple[TrialConfig, dict[str, Any]]:
        """One random config and its params (`fixed` ones pinned), drawn in a throwaway study."""
        sampler: optuna.samplers.BaseSampler = optuna.samplers.RandomSampler(seed=seed)
        if fixed:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                sampler = optuna.samplers.PartialFixedSampler(dict(fixed), sampler)
        study = optuna.create_study(sampler=sampler)
        trial = study.ask()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range")
            return self(trial), dict(trial.params)

    def explore(self, samples: int = 32) -> dict[str, optuna.distributions.BaseDistribution]:
        """Every param the space can ask for (conditional ones included), with its distribution,
        as seen over `samples` random draws."""
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        found: dict[str, optuna.distributions.BaseDistribution] = {}
        for _ in range(samples):
            trial = study.ask()
            self(trial)
            found.update(trial.distributions)
            study.tell(trial, 0.0)
        return found

    def rebuild(self, params: Mapping[str, Any]) -> TrialConfig:
        """The config a trial with these params had: builders never need the trial itself."""
        with warnings.catch_warnings():  # a pinned value outside the space's range is deliberate
            warnings.filterwarnings("ignore", message=".* out of the range of the distribution")
            return self(optuna.trial.FixedTrial(dict(params)))


_SPACES: Registry[Space] = Registry("search space")


def register_space(name: str, grid: Mapping[str, Sequence[Any]] | None = None):
    """Decorator: `@register_space("my_space")` over `def my_space(trial) -> TrialConfig`."""

    def decorator(fn: SpaceFn) -> SpaceFn:
        _SPACES.register(name)(Space(name, fn, grid, description=(fn.__doc__ or "").strip()))
        return fn

    return decorator


def _load_builtin() -> None:
    """Import every module of the `search_spaces` package; each registers its spaces."""
    package = importlib.import_module("search_spaces")
    for info in pkgutil.iter_modules(package.__path__, "search_spaces."):
        importlib.import_module(info.name)


def list_spaces() -> list[str]:
    _load_builtin()
    return _SPACES.names()


def get_space(name_or_path: str | Path) -> Space:
    text = str(name_or_path)
    if text.endswith(".py") or "/" in text or Path(text).is_file():
        return load_space_file(Path(text))
    _load_builtin()
    if text not in _SPACES:
        raise SpaceError(
            f"unknown space {text!r}; choose one of: {', '.join(_SPACES.names())}, "
            "or pass the path of your own .py file"
        )
    return _SPACES.get(text)


def load_space_file(path: Path) -> Space:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise SpaceError(f"space file {path} does not exist; pass a space name or a .py file")
    return _load_space_file(path, path.stat().st_mtime_ns)


@functools.cache
def _load_space_file(path: Path, mtime_ns: int) -> Space:
    """Import a user's file once per version of it (re-running it would register twice)."""
    before = set(_SPACES.names())
    module_name = f"automl_user_space_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SpaceError(f"space file {path} cannot be imported; is it a Python file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise SpaceError(
            f"space file {path} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    new = sorted(set(_SPACES.names()) - before)
    if callable(getattr(module, "space", None)):
        return Space(path.stem, module.space, getattr(module, "GRID", None), file=str(path))
    if len(new) == 1:
        entry = _SPACES.get(new[0])
        return Space(entry.name, entry.fn, entry.grid, file=str(path))
    raise SpaceError(
        f"space file {path} defines no `space(trial)` function"
        + (f" and registers {len(new)} spaces ({', '.join(new)})" if new else "")
        + "; define `def space(trial) -> automl.TrialConfig`"
    )
