"""Positional constructors for frozen model records that fill their slots directly (parse hot path)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["slot_constructor"]

R = TypeVar("R")


def slot_constructor(cls: type[R], *, without_post_init: bool = False) -> Callable[..., R]:
    """A function equivalent to ``cls(*values)`` for a frozen, slotted dataclass without ``__post_init__``
    (or, ``without_post_init``, for one with it, which is then not run: for a caller that gives what
    it would establish). Every field is a parameter, in field order, ``init=False`` ones too.

    A frozen dataclass's generated ``__init__`` routes every field through ``object.__setattr__``,
    an uncached call per field; for a record with a dozen fields built once per OBX that is a large
    share of the time it takes to read a message. The function returned here fills an instance of a
    mutable twin class instead, one with exactly the same slots, where each field is a plain slot
    store, and then gives the instance its real class (``__class__`` assignment, which Python allows
    between classes of the same layout). The result is an ordinary, frozen ``cls`` instance.

    Fields not given take their defaults, as with the class itself; a missing field without a
    default, or too many values, raises ``TypeError``. Raises ``TypeError`` at once for a class this
    cannot build faithfully: not a frozen slotted dataclass, a ``__post_init__``, a base class other
    than ``object``, keyword-only or name-mangled fields.
    """
    if (not dataclasses.is_dataclass(cls) or "__slots__" not in vars(cls) or cls.__bases__ != (object,)
            or (hasattr(cls, "__post_init__") and not without_post_init)
            or not cls.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass without __post_init__ or bases")
    fields = dataclasses.fields(cls)
    if any(f.kw_only or f.name.startswith("__") for f in fields):
        raise TypeError(f"{cls.__name__} has keyword-only or name-mangled fields")
    twin = type(f"_Unfrozen{cls.__name__}", (), {"__slots__": cls.__slots__})  # type: ignore[attr-defined]
    probe = object.__new__(twin)
    probe.__class__ = cls  # raises TypeError now, not per record, if the layouts ever differ
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_twin": twin,
                                 "_factory_default": _FACTORY_DEFAULT}
    parameters, body = [], []
    for i, f in enumerate(fields):
        if f.default is not dataclasses.MISSING:
            namespace[f"_default{i}"] = f.default
            parameters.append(f"v{i}=_default{i}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory{i}"] = f.default_factory
            parameters.append(f"v{i}=_factory_default")
            body.append(f"    if v{i} is _factory_default:\n        v{i} = _factory{i}()")
        else:
            parameters.append(f"v{i}")
        body.append(f"    obj.{f.name} = v{i}")
    signature = ", ".join([*parameters, "/"]) if parameters else ""
    source = (f"def construct({signature}):\n    obj = _new(_twin)\n" + "\n".join(body)
              + "\n    obj.__class__ = _cls\n    return obj\n")
    # The source holds only field names (identifiers) and generated names; values come via namespace.
    exec(source, namespace)
    construct: Callable[..., R] = namespace["construct"]
    construct.__qualname__ = construct.__name__ = f"new_{cls.__name__}"
    return construct


class _FactoryDefault:
    """Marks a parameter whose default comes from the field's ``default_factory``."""

    __slots__ = ()


_FACTORY_DEFAULT = _FactoryDefault()
