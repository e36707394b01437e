"""Typed, frozen hyper-parameter dataclasses: defaults, overrides with type checks.

A method's or task's parameters are a ``@dataclass(frozen=True)`` with a default for
every field.  :func:`resolve_params` builds an instance from overrides given as Python
values (suites) or strings (``--set lora.rank=8``) and rejects unknown keys and values
of the wrong type with one line that lists what is allowed.

Every numeric field of every Params class is also range-checked by one shared rule
(:func:`check_bounds`), so a new Params class is covered without code of its own:

* every float must be finite (``inf``, ``nan``, ``1e999`` are refused);
* ints named ``steps``, ``epochs``, ``width``, ``depth``, ``batch``, ``rank`` or ending in
  ``_steps``, ``_epochs``, ``_width``, ``_depth``, ``_batch`` must be >= 1; other ints >= 0;
* floats named ``lr`` or ``*_lr`` and ``variance`` or ``*_variance`` must be > 0; names
  ending in ``weight_decay`` or starting with ``eta_`` must be >= 0; ``*_frac``, ``*_prob``,
  ``dropout`` lie in [0, 1];
* a field declares its own bounds with ``field(default=..., metadata=bounds(ge=0))``
  (keys ``ge``, ``gt``, ``le``, ``lt``), which replace the naming rule.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Literal, Mapping

from benchmark.errors import BenchmarkError


def _convert(owner: str, key: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise BenchmarkError(f"{owner}.{key}={value!r} is not allowed; choose one of {', '.join(map(str, choices))}")
        return value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        return _convert(owner, key, value, args[0])
    if origin is tuple:
        (item,) = typing.get_args(hint)[:1]
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        return tuple(_convert(owner, key, v, item) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise BenchmarkError(f"{owner}.{key} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise BenchmarkError(f"{owner}.{key} must be an integer, got {value!r}")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise BenchmarkError(f"{owner}.{key} must be an integer, got {value!r}") from None
    if hint is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise BenchmarkError(f"{owner}.{key} must be a number, got {value!r}") from None
    if hint is str:
        return str(value)
    return value


POSITIVE_INT_NAMES = ("steps", "epochs", "width", "depth", "batch", "rank")
BOUND_KEYS = ("ge", "gt", "le", "lt")


def bounds(*, ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None) -> dict[str, float]:
    """Field metadata with a field's own bounds: ``x: int = field(default=5, metadata=bounds(ge=0))``."""
    return {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}


def default_bounds(name: str, kind: type) -> dict[str, float]:
    """The naming rule for a numeric field without bounds of its own (see the module docstring)."""
    if kind is int:
        positive = name in POSITIVE_INT_NAMES or any(name.endswith("_" + n) for n in POSITIVE_INT_NAMES)
        return {"ge": 1} if positive else {"ge": 0}
    if name in ("lr", "variance") or name.endswith(("_lr", "_variance")):
        return {"gt": 0}
    if name.endswith("weight_decay") or name.startswith("eta_"):
        return {"ge": 0}
    if name == "dropout" or name.endswith(("_frac", "_prob")) or name in ("frac", "prob"):
        return {"ge": 0, "le": 1}
    return {}


def _numeric_kind(hint: Any) -> tuple[type | None, bool]:
    """(int or float or None, whether the field is a tuple of them) for a type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _numeric_kind(args[0]) if len(args) == 1 else (None, False)
    if origin is tuple:
        kind, _ = _numeric_kind(typing.get_args(hint)[0])
        return kind, True
    if hint is bool:
        return None, False
    return (hint, False) if hint in (int, float) else (None, False)


def _explain(rule: Mapping[str, float]) -> str:
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return " and ".join(f"{words[k]} {rule[k]:g}" for k in BOUND_KEYS if k in rule)


def check_bounds(cls: type, values: Mapping[str, Any], owner: str = "params") -> None:
    """Range-check every numeric value of ``values`` (field name -> value of Params ``cls``).

    Raises:
        BenchmarkError: one line naming the first bad field, its value and what is allowed.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        kind, many = _numeric_kind(hints.get(f.name))
        value = values[f.name]
        if kind is None or value is None:
            continue
        rule = {k: f.metadata[k] for k in BOUND_KEYS if k in f.metadata} or default_bounds(f.name, kind)
        items = value if many else (value,)
        for v in items:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            hint = f"; the default is {f.default!r}" if f.default is not dataclasses.MISSING else ""
            if not math.isfinite(v):
                raise BenchmarkError(f"{owner}.{f.name}={v!r} is not allowed: it must be a finite number{hint}")
            ok = (v >= rule.get("ge", -math.inf) and v > rule.get("gt", -math.inf)
                  and v <= rule.get("le", math.inf) and v < rule.get("lt", math.inf))
            if not ok:
                what = "an integer" if kind is int else "a number"
                raise BenchmarkError(f"{owner}.{f.name}={v!r} is not allowed: it must be {what} {_explain(rule)}{hint}")


def resolve_params(cls: type, overrides: Mapping[str, Any] | None = None, owner: str = "params") -> Any:
    """Return ``cls(**defaults | overrides)`` after checking every key and type.

    Raises:
        BenchmarkError: for an unknown key (with the known keys listed) or a bad value.
    """
    overrides = dict(overrides or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise BenchmarkError(f"unknown hyper-parameter {owner}.{unknown[0]}; known: {', '.join(names)}")
    values = {k: _convert(owner, k, v, hints[k]) for k, v in overrides.items()}
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    check_bounds(cls, {**defaults, **values}, owner)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise BenchmarkError(f"bad value for {owner}: {exc}") from exc


def params_to_dict(params: Any) -> dict[str, Any]:
    """A JSON-ready dict of a params dataclass (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(params).items()}


def parse_set_options(items: list[str] | None) -> dict[str, dict[str, str]]:
    """Parse ``--set METHOD.KEY=VALUE`` items into ``{method: {key: value}}``.

    ``*`` as METHOD applies the value to every method that has the key.
    """
    out: dict[str, dict[str, str]] = {}
    for item in items or ():
        target, sep, value = item.partition("=")
        method, dot, key = target.partition(".")
        if not sep or not dot or not method or not key:
            raise BenchmarkError(f"--set {item!r} is malformed; write --set METHOD.KEY=VALUE, e.g. --set lora.rank=8")
        out.setdefault(method, {})[key] = value
    return out
