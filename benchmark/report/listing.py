"""``python -m benchmark list``: each entry with its description and defaults."""

from __future__ import annotations

import dataclasses

from benchmark.registry import Registries


def _defaults(obj: object) -> str:
    params = getattr(obj, "Params", None)
    if params is None or not dataclasses.is_dataclass(params):
        return ""
    fields = dataclasses.fields(params)
    return ", ".join(f"{f.name}={f.default!r}" for f in fields if f.default is not dataclasses.MISSING)


def format_listing(regs: Registries, kind: str) -> str:
    reg = regs.by_kind(kind)
    lines = [f"{len(reg.entries)} {reg.kind}s"]
    for entry in reg:
        lines.append(f"  {entry.name:<24} {entry.description}")
        defaults = _defaults(entry.obj)
        if defaults:
            lines.append(f"  {'':<24}   defaults: {defaults}")
    return "\n".join(lines)
