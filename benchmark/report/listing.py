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


def format_listing(regs: Registries, kind: str, search_spaces: bool = False) -> str:
    """One entry per registered object: name, description, defaults (and, for methods with
    ``search_spaces``, each tunable field's distribution and the budget blocks it takes)."""
    from benchmark.stage_configs import declared_blocks, search_space

    reg = regs.by_kind(kind)
    lines = [f"{len(reg.entries)} {reg.kind}s"]
    for entry in reg:
        lines.append(f"  {entry.name:<24} {entry.description}")
        defaults = _defaults(entry.obj)
        if defaults:
            lines.append(f"  {'':<24}   defaults: {defaults}")
        if search_spaces and kind.startswith("method"):
            params = getattr(entry.obj, "Params", None)
            space = search_space(params) if getattr(entry.obj, "tuned", True) else {}
            text = "; ".join(f"{k} ~ {v.describe()}" for k, v in space.items()) or (
                "not tuned (an oracle or reference row)" if not getattr(entry.obj, "tuned", True) else "nothing to tune")
            lines.append(f"  {'':<24}   search space: {text}")
            lines.append(f"  {'':<24}   budget blocks: {', '.join(sorted(declared_blocks(params))) or 'none'}")
    return "\n".join(lines)
