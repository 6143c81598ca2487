"""A tiny typed name → builder registry (one per extension point: encoders, decoders)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from taskonomy.errors import InvalidInputError, NotFoundError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → object; refuses duplicates; a failed lookup lists the known names."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator recording ``obj`` under ``name``."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise InvalidInputError(f"{self._what} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise NotFoundError(f"unknown {self._what} " + did_you_mean(name, tuple(self._items))) from None

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
