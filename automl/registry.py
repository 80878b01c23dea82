"""Name -> object tables with one getter whose error lists the valid names."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Generic, TypeVar

from automl.errors import ConfigError

T = TypeVar("T")


def check_name(name: str, allowed: Collection[str], what: str) -> str:
    """`name` itself if it is one of `allowed`; else an error naming it and the choices."""
    if name not in allowed:
        choices = ", ".join(allowed)
        raise ConfigError(f"unknown {what} {name!r}; choose one of: {choices}")
    return name


def choose(table: Mapping[str, T], name: str, what: str) -> T:
    """Look `name` up in `table`; a miss names what was got and what is allowed."""
    return table[check_name(name, sorted(table), what)]


class Registry(Generic[T]):
    """A named table filled by a decorator, timm style: `@reg.register("name")`."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ConfigError(f"{self.what} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        return choose(self._items, name, self.what)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
