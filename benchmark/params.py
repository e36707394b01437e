"""Typed, frozen hyper-parameter dataclasses: defaults, overrides with type checks.

A method's or task's parameters are a ``@dataclass(frozen=True)`` with a default for
every field.  :func:`resolve_params` builds an instance from overrides given as Python
values (suites) or strings (``--set lora.rank=8``) and rejects unknown keys and values
of the wrong type with one line that lists what is allowed.
"""

from __future__ import annotations

import dataclasses
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
