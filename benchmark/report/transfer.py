"""The normalised transfer score T of a table cell, shown beside the raw metric.

For a metric M and one column of a table (a setting and an n_target), with the seed means
M_S of ``source-only`` (no transfer) and M_O of ``target-oracle`` (trained on a large target
sample) in that same column,

    T = (M_S - M) / (M_S - M_O),

with M the cell's seed mean.  T = 0 is source-only, T = 1 the oracle, T > 1 beyond it and
T < 0 worse than source-only.  The formula serves both directions: for a higher-is-better
metric (AUC) numerator and denominator both change sign, so the reading is the same, and
tables of different tasks, dimensions or metrics compare on one scale.

A column has no T (the cells show "T –" and the table note says why) when its source-only
or target-oracle mean is missing, when the two are equal as displayed (3 significant
digits, the tables' own tie rule: the denominator is ~0), or when the oracle is not better
than source-only in the metric's direction (then "towards the oracle" is not "better" and
T would mislead).  Metrics without a direction (reference values such as ``mmd_floor``) and
tables that lack either reference row altogether (a suite that plans no target-oracle, like
quick's ecg-synth cell) get no T at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from benchmark.report.metric_info import direction
from benchmark.report.numbers import displayed

if TYPE_CHECKING:
    from benchmark.report.tables import TableData

SOURCE_ONLY = "source-only"
TARGET_ORACLE = "target-oracle"
SIG = 3  # significant digits the tables display (ties at this precision: denominator ~0)

NOTE = ("T = (M_source-only - M) / (M_source-only - M_target-oracle), from the seed means of the same "
        "setting and n_target: 0 is source-only, 1 the target-oracle, above 1 beyond the oracle, below 0 worse "
        "than source-only; the same formula for higher-is-better metrics (both differences change sign).")


def _variant_of(variants: list[str], method: str) -> Optional[str]:
    """The one row of ``method`` (its name, or ``method[...]`` when hparams differ); None if absent or ambiguous."""
    if method in variants:
        return method
    rows = [v for v in variants if v.split("[", 1)[0] == method]
    return rows[0] if len(rows) == 1 else None


def transfer_score(value: float, source: float, oracle: float, metric_direction: str) -> tuple[Optional[float], str]:
    """(T, "") or (None, why not) for one cell, from seed means (see the module docstring)."""
    if not (math.isfinite(source) and math.isfinite(oracle)):
        return None, "no source-only or target-oracle value"
    if displayed(source, SIG) == displayed(oracle, SIG):
        return None, "source-only and target-oracle are equal (denominator ~0)"
    oracle_better = oracle < source if metric_direction == "min" else oracle > source
    if not oracle_better:
        return None, "target-oracle is not better than source-only"
    if not math.isfinite(value):
        return None, "no value"
    return (source - value) / (source - oracle), ""


@dataclass
class TransferScores:
    """T per cell of a :class:`TableData` (``scores[(variant, metric, n)]``, None = "–"),
    the metrics that show T, and why each column without T has none."""

    metrics: list[str] = field(default_factory=list)
    scores: dict[tuple[str, str, int], Optional[float]] = field(default_factory=dict)
    reasons: dict[tuple[str, int], str] = field(default_factory=dict)

    def shown(self, metric: str) -> bool:
        return metric in self.metrics

    def note(self) -> str:
        """The table note: the definition, then the columns without T grouped by reason."""
        if not self.metrics:
            return ""
        by_reason: dict[str, list[str]] = {}
        for (m, n), why in self.reasons.items():
            by_reason.setdefault(why, []).append(f"{m} n={n}")
        gaps = "; ".join(f"T – in {', '.join(cols)}: {why}" for why, cols in by_reason.items())
        return NOTE + (f" {gaps}." if gaps else "")


def transfer_scores(data: "TableData") -> TransferScores:
    """T for every cell of ``data`` with a value, in the metrics that have a direction, when
    the table has both a source-only and a target-oracle row."""
    out = TransferScores()
    source_row = _variant_of(data.variants, SOURCE_ONLY)
    oracle_row = _variant_of(data.variants, TARGET_ORACLE)
    if source_row is None or oracle_row is None:
        return out
    for m in data.metrics:
        d = direction(m)
        if d is None:
            continue
        out.metrics.append(m)
        for n in data.n_targets:
            source = data.cells[(source_row, m, n)].mean if source_row else math.nan
            oracle = data.cells[(oracle_row, m, n)].mean if oracle_row else math.nan
            column_why = ""
            if not math.isfinite(source):
                column_why = "no source-only value"
            elif not math.isfinite(oracle):
                column_why = "no target-oracle value"
            for v in data.variants:
                t, why = transfer_score(data.cells[(v, m, n)].mean, source, oracle, d)
                out.scores[(v, m, n)] = t
                if t is None and why != "no value" and not column_why:
                    column_why = why
            if column_why:
                out.reasons[(m, n)] = column_why
    return out


def format_transfer(t: Optional[float]) -> str:
    """``T 0.83`` (two decimals) or ``T –``."""
    if t is None:
        return "T –"
    return f"T {0.0 if round(t, 2) == 0 else t:.2f}"
