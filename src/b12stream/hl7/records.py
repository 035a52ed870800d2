"""Positional constructors for frozen model records that fill their slots directly (parse hot path)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["slot_constructor"]

R = TypeVar("R")


def slot_constructor(cls: type[R]) -> Callable[..., R]:
    """A function equivalent to ``cls(*values)`` for a frozen, slotted dataclass without ``__post_init__``.

    A frozen dataclass's generated ``__init__`` routes every field through ``object.__setattr__``;
    for a record with a dozen fields built once per OBX that is a fifth of the time it takes to read
    a message. This fills the slots with their descriptors instead. Fields not given take their
    defaults, as with the class itself; a missing field without a default, or too many values,
    raises ``TypeError``. Raises ``TypeError`` at once for a class this cannot build faithfully.
    """
    if (not dataclasses.is_dataclass(cls) or "__slots__" not in vars(cls)
            or hasattr(cls, "__post_init__") or not cls.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass without __post_init__")
    fields = dataclasses.fields(cls)
    setters = tuple(vars(cls)[f.name].__set__ for f in fields)
    count = len(fields)
    new = object.__new__

    def construct(*values: Any) -> R:
        given = len(values)
        if given != count:
            values = values + _defaults(cls, fields, given)
        obj = new(cls)
        for setter, value in zip(setters, values, strict=False):  # equal lengths by construction
            setter(obj, value)
        return obj

    return construct


def _defaults(cls: type, fields: tuple[dataclasses.Field[Any], ...], given: int) -> tuple[Any, ...]:
    if given > len(fields):
        raise TypeError(f"{cls.__name__} takes {len(fields)} values, got {given}")
    filled = []
    for field in fields[given:]:
        if field.default is not dataclasses.MISSING:
            filled.append(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            filled.append(field.default_factory())
        else:
            raise TypeError(f"{cls.__name__} needs a value for {field.name}")
    return tuple(filled)
