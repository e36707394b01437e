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
* a one-trial column is neither bold nor marked (its note says so);
* ``mean rank``: :func:`benchmark.report.ranking.ranking` over these columns, with its bootstrap
  interval over trials;
* ``all-metric claims b/w/m``: over the (setting, n_target) cells of the agreement tables
  (:func:`benchmark.report.agreement.agreement`: the row against the same baseline on every
  sample metric of the setting), how many claims are robust better / robust worse / mixed
  (the rest: no difference on every metric, or fewer than two trials);
* ``s/run`` and ``params``: the cost of the row on the first setting (:attr:`TableData.cost`).

Shapes: ``tables`` is one :class:`TableData` per setting with one ranked metric each; columns are
(setting, n_target) in the given order, rows the union of their variants, references first.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from benchmark.report.agreement import Agreement, claim
from benchmark.report.metric_info import direction
from benchmark.report.ranking import RESAMPLES, ranking
from benchmark.report.tables import DASH, GROUP_SHORT, TableData, format_mean_std

BETTER, WORSE, BASELINE = "+", "−", "°"
CLAIMS = "all-metric claims b/w/m"


def _column(t: TableData, metric: str, n: int) -> str:
    return f"{t.setting} {metric} n={n}"


def _claims(agreements: Sequence[Agreement], v: str) -> str:
    counts = {"robust better": 0, "robust worse": 0, "mixed": 0}
    for ag in agreements:
        for (row, n), _ in ag.rows.items():
            if row == v:
                c = claim(ag.verdicts(row, n))
                if c in counts:
                    counts[c] += 1
    return "/".join(str(x) for x in counts.values())


def summary_frame(tables: Sequence[TableData], agreements: Sequence[Agreement] = ()) -> pd.DataFrame:
    """The displayed strings (module docstring): index = variants, columns = (setting, metric, n),
    then mean rank, the metric-agreement claims (with ``agreements``) and the first setting's cost."""
    variants: list[str] = []
    for t in tables:  # references first, then the other rows, each in first-seen order
        variants += [v for v in t.variants if t.row(v)[0] == "reference" and v not in variants]
    for t in tables:
        variants += [v for v in t.variants if v not in variants]
    info = {}
    for t in reversed(tables):
        info.update({v: t.row(v) for v in t.variants})
    rk = ranking(tables).frame
    ranks = {m: (a, b, c) for m, a, b, c in zip(rk.method, rk.mean_rank, rk.lo, rk.hi)}
    bold = [t.bold() for t in tables]
    rows = []
    for v in variants:
        group, source = info[v]
        row = {"group": GROUP_SHORT[group], "source": source}
        for t, t_bold in zip(tables, bold):
            for m in t.metrics:
                for n in t.n_targets:
                    cell = t.cells.get((v, m, n))
                    if cell is None or not cell.count or not math.isfinite(cell.mean):
                        row[_column(t, m, n)] = DASH
                        continue
                    text = format_mean_std(cell.mean, math.nan, latex=False)
                    if (v, m, n) in t_bold:
                        text = f"**{text}**"
                    base = t.references(m, n).get("baseline")
                    c = t.comparisons.get((v, "baseline", m, n))
                    if v == base:
                        text += BASELINE
                    elif c is not None and c.significant:
                        sign = -1.0 if direction(m) == "min" else 1.0
                        text += BETTER if sign * c.diff > 0 else WORSE
                    row[_column(t, m, n)] = text
        r = ranks.get(v)
        row["mean rank [95 %]"] = f"{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}]" if r else DASH
        if agreements:
            row[CLAIMS] = _claims(agreements, v) if r else DASH
        secs, params = tables[0].cost.get(v, (math.nan, math.nan)) if tables else (math.nan, math.nan)
        row[f"s/run {tables[0].setting}"] = f"{secs:.3g}" if math.isfinite(secs) else DASH
        row[f"params {tables[0].setting}"] = f"{params:,.0f}" if math.isfinite(params) else DASH
        rows.append(row)
    frame = pd.DataFrame(rows, index=pd.Index(variants, name="method"))
    if tables and any(frame.loc[v, f"params {tables[0].setting}"] == DASH for v in ranks):
        frame = frame.drop(columns=f"params {tables[0].setting}")  # shown only where every competitor has it
    return frame


def summary_note(tables: Sequence[TableData], agreements: Sequence[Agreement] = ()) -> str:
    """What the marks and columns mean and which columns have one trial."""
    single = sorted({t.setting for t in tables for m in t.metrics for n in t.n_targets
                     if max((c.count for (v, mm, nn), c in t.cells.items() if mm == m and nn == n), default=0) < 2})
    text = ("Cells: mean over the column's trials (each setting's table gives ± std and the paired intervals). "
            "Bold: the best mean of a column and every row not significantly worse than it (paired t over trials, "
            f"Holm over that setting's table). {BETTER} / {WORSE}: significantly better / worse than the column's "
            f"strongest default baseline ({BASELINE}: the best mean of finetune, lora and scratch) after Holm over "
            "that setting's table; unmarked rows are not distinguishable from it on these trials. Mean rank: over the "
            "competitor rows of each column (1 = best, ties averaged), its interval the 2.5–97.5 percentiles over "
            f"{RESAMPLES} bootstrap resamples of the trials of each column (rows stay paired). s/run and params: the "
            f"median seconds per run and the trained parameters (where every row records them) on "
            f"{tables[0].setting if tables else DASH}.")
    if agreements:
        names = "; ".join(f"{a.data.setting}: {', '.join(a.data.metrics)}" for a in agreements)
        text += (" All-metric claims b/w/m: in how many (setting, n_target) cells the row against that baseline is significantly "
                 "better on every sample metric, worse on every one, or has verdicts that differ across metrics "
                 f"(paired t, Holm over each setting's agreement table; metrics {names}); the other cells: "
                 "no difference on any metric, or fewer than two trials.")
    if single:
        text += f" One trial ({', '.join(single)}): nothing bold, + or − there."
    trials = []
    for t in tables:
        seen = sorted({int(x) for c in t.cells.values() for x in c.trials})
        span = f"{seen[0]}–{seen[-1]}" if len(seen) > 1 else (str(seen[0]) if seen else DASH)
        trials.append(f"{t.setting} {len(seen)} ({span})")
    return text + " Trials: " + ", ".join(trials) + "."


def to_markdown(tables: Sequence[TableData], title: str, agreements: Sequence[Agreement] = ()) -> str:
    """``title``, the table and its note, as Markdown."""
    frame = summary_frame(tables, agreements)
    return f"{title}\n\n{frame.to_markdown()}\n\n{summary_note(tables, agreements)}\n"
