"""The figure registry: one function per figure, ``f(frame, records, out_dir) -> list[Path]``.

Figures are added by the report issue; this module is where they register.
"""
