"""One table across settings: every row's headline metric in every (setting, n_target) column.

The per-setting tables (:mod:`benchmark.report.tables`) carry the paired differences; this view
puts their means side by side so a reader sees where a row wins and where it loses, and keeps
each table's own marks rather than recomputing them:

* a cell is the row's mean over the trials of its column (``–`` where the row has no run there);
* **bold**: the table's paired rule (:meth:`TableData.bold`: the best mean and every row not
  significantly worse than it, paired t over trials, Holm over the setting's table);
* ``+`` / ``−``: significantly better / worse than the column's strongest default baseline
  (the best mean of finetune, LoRA and scratch, :meth:`TableData.references`) after Holm over
  the setting's table (:attr:`TableData.comparisons`); ``°`` marks that baseline itself;
* a one-trial column is neither bold nor marked (its note says so).

Shapes: ``tables`` is one :class:`TableData` per setting with one ranked metric each; columns are
(setting, n_target) in the given order, rows the union of their variants, references first.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from benchmark.report.metric_info import direction
from benchmark.report.tables import DASH, GROUP_SHORT, TableData, format_mean_std

BETTER, WORSE, BASELINE = "+", "−", "°"


def _column(t: TableData, metric: str, n: int) -> str:
    return f"{t.setting} {metric} n={n}"


def summary_frame(tables: Sequence[TableData]) -> pd.DataFrame:
    """The displayed strings (module docstring): index = variants, columns = (setting, metric, n)."""
    variants: list[str] = []
    for t in tables:  # references first, then the other rows, each in first-seen order
        variants += [v for v in t.variants if t.row(v)[0] == "reference" and v not in variants]
    for t in tables:
        variants += [v for v in t.variants if v not in variants]
    info = {}
    for t in reversed(tables):
        info.update({v: t.row(v) for v in t.variants})
    rows = []
    for v in variants:
        group, source = info[v]
        row = {"group": GROUP_SHORT[group], "source": source}
        for t in tables:
            bold = t.bold()
            for m in t.metrics:
                for n in t.n_targets:
                    cell = t.cells.get((v, m, n))
                    if cell is None or not cell.count or not math.isfinite(cell.mean):
                        row[_column(t, m, n)] = DASH
                        continue
                    text = format_mean_std(cell.mean, math.nan, latex=False)
                    if (v, m, n) in bold:
                        text = f"**{text}**"
                    base = t.references(m, n).get("baseline")
                    c = t.comparisons.get((v, "baseline", m, n))
                    if v == base:
                        text += BASELINE
                    elif c is not None and c.significant:
                        sign = -1.0 if direction(m) == "min" else 1.0
                        text += BETTER if sign * c.diff > 0 else WORSE
                    row[_column(t, m, n)] = text
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(variants, name="method"))


def summary_note(tables: Sequence[TableData]) -> str:
    """What the marks mean and which columns have one trial."""
    single = sorted({t.setting for t in tables for m in t.metrics for n in t.n_targets
                     if max((c.count for (v, mm, nn), c in t.cells.items() if mm == m and nn == n), default=0) < 2})
    text = ("Cells: mean over the column's trials (each setting's table gives ± std and the paired intervals). "
            "Bold: the best mean of a column and every row not significantly worse than it (paired t over trials, "
            f"Holm over that setting's table). {BETTER} / {WORSE}: significantly better / worse than the column's "
            f"strongest default baseline ({BASELINE}: the best mean of finetune, lora and scratch) after Holm over "
            "that setting's table; unmarked rows are not distinguishable from it on these trials.")
    if single:
        text += f" One trial ({', '.join(single)}): nothing bold, + or − there."
    trials = []
    for t in tables:
        seen = sorted({int(x) for c in t.cells.values() for x in c.trials})
        span = f"{seen[0]}–{seen[-1]}" if len(seen) > 1 else (str(seen[0]) if seen else DASH)
        trials.append(f"{t.setting} {len(seen)} ({span})")
    return text + " Trials: " + ", ".join(trials) + "."


def to_markdown(tables: Sequence[TableData], title: str) -> str:
    """``title``, the table and its note, as Markdown."""
    frame = summary_frame(tables)
    return f"{title}\n\n{frame.to_markdown()}\n\n{summary_note(tables)}\n"
