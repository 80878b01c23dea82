"""Search-space registry: plain functions `(trial) -> TrialConfig`, registered by name.

`get_space("scratch_cnn")` finds a built-in space (modules in the `search_spaces` package);
`get_space("path/to/my_space.py")` imports the user's own file, which either defines
`space(trial)` or registers exactly one space with `@register_space`.

A space whose model fine-tunes a pretrained backbone names the categorical param that picks
it (`backbone_param`, `BACKBONE_PARAM` in a file): a study leaves out the choices that have no
weights here, and `with_choices` narrows the param to what is left (or widens a categorical
to a value pinned with --fix). A space may also declare a `portfolio` (`PORTFOLIO` in a
file): params of known-good trials a new study runs first.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import numbers
import pkgutil
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from automl import optuna_compat
from automl.config import TrialConfig
from automl.errors import AutoMLError, ConfigError, SpaceError
from automl.registry import Registry

SpaceFn = Callable[[optuna.trial.BaseTrial], TrialConfig]


@dataclass(frozen=True)
class Space:
    name: str
    fn: SpaceFn
    grid: Mapping[str, Sequence[Any]] | None = None  # values for --sampler grid, when it has one
    file: str | None = None  # the user's file, for spaces that do not ship with automl
    description: str = field(default="", compare=False)
    backbone_param: str | None = None  # categorical param naming a pretrained backbone
    choices: Mapping[str, Sequence[Any]] = field(default_factory=dict)  # a study's own choices
    portfolio: Sequence[Mapping[str, Any]] = ()  # known-good params a new study tries first

    def with_choices(self, choices: Mapping[str, Sequence[Any]]) -> Space:
        """This space with the categoricals in `choices` offering the values given instead of
        its own; its grid keeps only those values (a pinned value is the grid's own pin)."""
        grid = self.grid and {
            k: [v for v in values if k not in choices or v in choices[k]]
            for k, values in self.grid.items()
        }
        return dataclasses.replace(
            self, grid=grid, choices={k: list(v) for k, v in choices.items()}
        )

    def __call__(self, trial: optuna.trial.BaseTrial) -> TrialConfig:
        try:
            cfg = self.fn(_Narrowed(trial, self.choices) if self.choices else trial)
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
            warnings.filterwarnings("ignore", message=optuna_compat.FIXED_OUT_OF_RANGE)
            return self(trial), dict(trial.params)

    def _draws(self, samples: int) -> list[optuna.trial.FrozenTrial]:
        """`samples` random draws of the space in a throwaway study (nothing is trained)."""
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(samples):
            trial = study.ask()
            self(trial)
            study.tell(trial, 0.0)
        return study.get_trials(deepcopy=False)

    def explore(self, samples: int = 32) -> dict[str, optuna.distributions.BaseDistribution]:
        """Every param the space can ask for (conditional ones included), with its distribution,
        as seen over `samples` random draws."""
        found: dict[str, optuna.distributions.BaseDistribution] = {}
        for trial in self._draws(samples):
            found.update(trial.distributions)
        return found

    def parameters(self, samples: int = 200) -> list[Param]:
        """What the space searches, derived from `samples` random draws (not written by hand):
        each param's kind, range or choices, and the choice of another param it appears under."""
        draws = self._draws(samples)
        dists: dict[str, optuna.distributions.BaseDistribution] = {}
        for trial in draws:
            for name, dist in trial.distributions.items():
                dists.setdefault(name, dist)
        params = [dict(t.params) for t in draws]
        return [
            Param(name, *describe(dist), _condition(name, params, dists))
            for name, dist in dists.items()
        ]

    def pin(
        self, fix: Mapping[str, Any], resolution: int | None, default_resolution: int | None
    ) -> Pinned:
        """The params pinned for every trial (--fix NAME=VALUE, --resolution, else the data's
        own default resolution), checked through one sample of the space: a value of the wrong
        kind, or a name the space does not have, is refused. A categorical takes a pinned
        value outside its choices (widened), with a warning for each such pin given."""
        fixed = dict(fix)
        if resolution is not None:
            fixed["resolution"] = resolution
        if not fixed and default_resolution is None:
            return Pinned(self, {}, self.sample()[0])
        known = self.explore()
        if "resolution" not in fixed and "resolution" in known and default_resolution:
            fixed["resolution"] = default_resolution
        widened: dict[str, list[Any]] = {}
        outside: list[str] = []
        for name, value in fixed.items():
            if name not in known:
                raise ConfigError(
                    f"space {self.name!r} has no param {name!r} to fix; its params: "
                    + ", ".join(sorted(known))
                )
            dist = known[name]
            if isinstance(value, numbers.Number) and hasattr(value, "item"):
                value = value.item()  # a numpy scalar, stored as Python's own
            fixed[name] = value = as_choice(value, dist)
            if not check_pin(self.name, name, value, dist):
                continue
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                widened[name] = [*dist.choices, value]  # Optuna samples only a declared choice
            if name in fix or (name == "resolution" and resolution is not None):
                outside.append(
                    f"{name}={value!r} is outside what space {self.name} declares "
                    f"({describe(dist)[1]}); its trials use it anyway"
                )
        space = self.with_choices(widened) if widened else self
        sample, _ = space.sample(fixed=fixed)  # validates the pins through the space
        return Pinned(space, fixed, sample, tuple(outside), frozenset(widened))

    def max_resolution(self, fixed: Mapping[str, Any]) -> int | None:
        """The largest resolution the space's trials can ask for (a pinned one, else the top
        of its `resolution` param); None when it has no such param."""
        if "resolution" in fixed:
            return int(fixed["resolution"])
        dist = self.explore().get("resolution")
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            return max(int(c) for c in dist.choices)
        if isinstance(dist, optuna.distributions.IntDistribution):
            return int(dist.high)
        return None

    def backbones(self, fixed: Mapping[str, Any], model_options: Mapping[str, Any]) -> list[Any]:
        """The pretrained backbones a study of this space samples: the pinned one, the study's
        own choices, or all the space offers; none when no weights are needed (no backbone
        param, `pretrained` off, or `weights` given)."""
        param = self.backbone_param
        if param is None or not model_options.get("pretrained", True):
            return []
        if "weights" in model_options:
            return []
        if param in fixed:
            return [fixed[param]]
        if param in self.choices:
            return list(self.choices[param])
        dist = self.explore().get(param)
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            return list(dist.choices)
        return []

    def portfolio_trials(self, fixed: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The space's portfolio as a study can run it: its pins applied, entries outside the
        study's narrowed choices left out, duplicates dropped; a bad entry is a `SpaceError`."""
        trials: list[dict[str, Any]] = []
        for i, entry in enumerate(self.portfolio):
            params = {**entry, **fixed}
            if any(k in params and params[k] not in v for k, v in self.choices.items()):
                continue
            if params in trials:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings(
                        "ignore", message=optuna_compat.FIXED_TRIAL_OUT_OF_RANGE
                    )
                    self.sample(fixed=params)
            except (AutoMLError, ValueError, TypeError) as exc:
                raise SpaceError(
                    f"portfolio entry {i} of space {self.name!r} ({dict(entry)}) is not a "
                    f"valid trial: {exc}"
                ) from None
            trials.append(params)
        return trials

    def rebuild(self, params: Mapping[str, Any]) -> TrialConfig:
        """The config a trial with these params had: builders never need the trial itself."""
        with warnings.catch_warnings():  # a pinned value outside the space's range is deliberate
            warnings.filterwarnings("ignore", message=optuna_compat.FIXED_TRIAL_OUT_OF_RANGE)
            return self(optuna.trial.FixedTrial(dict(params)))


@dataclass(frozen=True)
class Pinned:
    """What `Space.pin` settled: the space (widened to take a pinned value outside its
    choices), the pins, one config drawn with them, and the warnings of pins given outside
    what the space declares (used anyway)."""

    space: Space
    fixed: dict[str, Any]
    sample: TrialConfig
    outside: tuple[str, ...] = ()
    widened: frozenset[str] = frozenset()  # the categoricals a pin widened


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # float | int | categorical
    values: str  # a range ("0.0001 .. 0.01, log") or the choices
    condition: str  # "always", or the choice of another param it appears under


def describe(dist: optuna.distributions.BaseDistribution) -> tuple[str, str]:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return "categorical", ", ".join(map(str, dist.choices))
    kind = "int" if isinstance(dist, optuna.distributions.IntDistribution) else "float"
    extra = ", log" if dist.log else (f", step {dist.step}" if dist.step not in (None, 1) else "")
    return kind, f"{dist.low:g} .. {dist.high:g}{extra}"


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    return "float" if isinstance(value, numbers.Real) else type(value).__name__


def check_pin(
    space: str, name: str, value: Any, dist: optuna.distributions.BaseDistribution
) -> bool:
    """Whether a pinned value lies outside what the space declares for `name` (it is used
    anyway); a value of a kind the param cannot take is refused."""
    kind, values = describe(dist)
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        kinds = {_kind_of(c) for c in dist.choices if c is not None}
        fits = value is None or _kind_of(value) in kinds | ({"int"} if "float" in kinds else set())
    else:
        fits = _kind_of(value) in ({"int"} if kind == "int" else {"int", "float"})
    if not fits:
        raise ConfigError(
            f"{name}={value!r} does not fit space {space!r}: {name} is "
            f"{'an' if kind == 'int' else 'a'} {kind} ({values}); give a value of that kind"
        )
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return value not in dist.choices
    return not dist.low <= value <= dist.high


def as_choice(value: Any, dist: optuna.distributions.BaseDistribution) -> Any:
    """The categorical choice a value read from the command line stands for (`None` for the
    text "None", "64" for the number 64 when the choices are text); else the value itself."""
    if isinstance(dist, optuna.distributions.CategoricalDistribution) and (
        value not in dist.choices
    ):
        return next((c for c in dist.choices if str(c) == str(value)), value)
    return value


def _condition(
    name: str,
    draws: list[dict[str, Any]],
    dists: Mapping[str, optuna.distributions.BaseDistribution],
) -> str:
    """ "always", or "Q in {..}" when `name` was drawn exactly when categorical Q took those."""
    having = [d for d in draws if name in d]
    if len(having) == len(draws):
        return "always"
    for other, dist in dists.items():
        if other == name or not isinstance(dist, optuna.distributions.CategoricalDistribution):
            continue
        with_other = [d for d in draws if other in d]
        under = {d[other] for d in having if other in d}
        if len(with_other) < len(having) or under == {d[other] for d in with_other}:
            continue
        if all((name in d) == (d[other] in under) for d in with_other):
            values = [v for v in dist.choices if v in under]
            return (
                f"{other} = {values[0]}"
                if len(values) == 1
                else (f"{other} in {{{', '.join(map(str, values))}}}")
            )
    return f"sometimes ({len(having)} of {len(draws)} draws)"


class _Narrowed:
    """A trial whose `suggest_categorical` offers the study's own choices of some params:
    narrowed (backbones without weights left out) or widened (a pinned value added)."""

    def __init__(self, trial: optuna.trial.BaseTrial, choices: Mapping[str, Sequence[Any]]):
        self._trial, self._choices = trial, choices

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._trial.suggest_categorical(name, list(self._choices.get(name, choices)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)


_SPACES: Registry[Space] = Registry("search space")


def register_space(
    name: str,
    grid: Mapping[str, Sequence[Any]] | None = None,
    backbone_param: str | None = None,
    portfolio: Sequence[Mapping[str, Any]] = (),
):
    """Decorator: `@register_space("my_space")` over `def my_space(trial) -> TrialConfig`.
    `grid`: values for --sampler grid; `backbone_param`: the categorical param that names a
    pretrained backbone (its choices without weights are left out of a study); `portfolio`:
    params of known-good trials that a new study runs first (missing params are sampled)."""

    def decorator(fn: SpaceFn) -> SpaceFn:
        description = (fn.__doc__ or "").strip()
        entry = Space(name, fn, grid, None, description, backbone_param, {}, tuple(portfolio))
        _SPACES.register(name)(entry)
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
        grid, backbone = getattr(module, "GRID", None), getattr(module, "BACKBONE_PARAM", None)
        portfolio = tuple(getattr(module, "PORTFOLIO", ()))
        return Space(path.stem, module.space, grid, str(path), "", backbone, {}, portfolio)
    if len(new) == 1:
        return dataclasses.replace(_SPACES.get(new[0]), file=str(path))
    raise SpaceError(
        f"space file {path} defines no `space(trial)` function"
        + (f" and registers {len(new)} spaces ({', '.join(new)})" if new else "")
        + "; define `def space(trial) -> automl.TrialConfig`"
    )
