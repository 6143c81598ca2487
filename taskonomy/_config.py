"""The helper :class:`~taskonomy.world.WorldSpec` (a frozen dataclass) uses to turn a JSON-like
mapping into constructor arguments, refusing what it does not know. The experiment's other
configuration blocks are pydantic models in :mod:`taskonomy.config`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from taskonomy.errors import InvalidInputError


def config_kwargs(cls: type, data: object, *, what: str) -> dict[str, Any]:
    """Constructor kwargs for dataclass ``cls`` from ``data``.

    Unknown keys raise InvalidInputError listing the known ones; missing keys take the defaults;
    a float carrying an integral value (JSON's ``64.0``) is accepted for an ``int`` field. Range
    checks stay in the dataclass's ``__post_init__``.
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{what} must be a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        listed = ", ".join(map(str, unknown))
        raise InvalidInputError(f"unknown {what} key(s) {listed}; known: {', '.join(sorted(known))}")
    values = dict(data)
    for f in fields(cls):
        v = values.get(f.name)
        if f.type in ("int", int) and isinstance(v, float) and v.is_integer():
            values[f.name] = int(v)
    return values
