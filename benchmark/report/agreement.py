"""Agreement across metrics: does a paired claim hold on every sample metric of a setting?

For each (setting, n_target) every competitor row is compared by trial with the strongest
default baseline of that n_target (the best mean of finetune, lora and scratch on the
setting's primary metric, the first of :func:`agreement_metrics`; one baseline for all
metrics, so each verdict is about the same pair of rows).  On every sample metric of the
setting the comparison gets a verdict, by the rule of the tables (:mod:`benchmark.report.paired`:
paired t over the shared trials, Holm's correction over every comparison of the agreement
table):

* ``better`` / ``worse``: significant after Holm, in the metric's direction
  (:func:`benchmark.report.metric_info.direction`);
* ``no difference``: not significant;
* ``–``: fewer than two shared trials (nothing can be said), or a metric the row lacks.

The claim of a row is ``robust better`` / ``robust worse`` only where every metric gives that
verdict; ``all no difference`` where none differs; otherwise ``mixed``; ``–`` where some
verdict is ``–``.

Rank agreement (:func:`rank_agreement`): per n_target and pair of metrics, Kendall's tau
(``scipy.stats.kendalltau``, tau-b) between the competitors' mean values, each metric
oriented so that lower is better (tau = 1: the two metrics order the methods alike).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd
from scipy import stats

from benchmark.report.metric_info import direction, is_headline
from benchmark.report.paired import Paired, with_holm
from benchmark.report.tables import DASH, TableData
from benchmark.store import atomic_write_text

#: the sample metrics compared per task (in this order; the first is the primary metric);
#: a task not named here uses its ranked headline metrics
SAMPLE_METRICS: dict[str, tuple[str, ...]] = {
    "gmm2d": ("mmd", "sliced_wasserstein", "density_error", "logq_gap"),
    "ecg-synth": ("downstream_auc", "feature_mmd", "feature_fd", "psd_distance", "feature_precision", "feature_recall"),
    "ptbxl-icbeb": ("downstream_auc", "feature_mmd", "feature_fd", "psd_distance", "feature_precision",
                    "feature_recall"),
}
BETTER, WORSE, SAME, NONE = "better", "worse", "no difference", DASH


def agreement_metrics(task: str, available: Sequence[str]) -> list[str]:
    """The metrics of the agreement table of a task: :data:`SAMPLE_METRICS` that were recorded,
    else the recorded ranked headline metrics."""
    have = set(available)
    wanted = SAMPLE_METRICS.get(task)
    if wanted is None:
        return sorted(m for m in have if is_headline(m) and direction(m))
    return [m for m in wanted if m in have]


def verdict(c: Optional[Paired], metric: str) -> str:
    """``better``, ``worse``, ``no difference`` or ``–`` (fewer than two trials, no comparison)."""
    if c is None or c.n < 2 or not math.isfinite(c.p_holm):
        return NONE
    if not c.significant:
        return SAME
    good = c.diff < 0 if direction(metric) == "min" else c.diff > 0
    return BETTER if good else WORSE


def claim(verdicts: Sequence[str]) -> str:
    """``robust better`` / ``robust worse`` / ``all no difference`` / ``mixed`` / ``–``."""
    if not verdicts or NONE in verdicts:
        return NONE
    if len(set(verdicts)) > 1:
        return "mixed"
    v = verdicts[0]
    return "all no difference" if v == SAME else f"robust {v}"


@dataclass
class Agreement:
    """The verdicts of one setting: ``rows[(variant, n)] = (baseline, {metric: Paired})``."""

    data: TableData
    rows: dict[tuple[str, int], tuple[str, dict[str, Optional[Paired]]]]

    def verdicts(self, v: str, n: int) -> list[str]:
        _, cmp = self.rows[(v, n)]
        return [verdict(cmp.get(m), m) for m in self.data.metrics]


def agreement(data: TableData) -> Agreement:
    """Every competitor against the strongest default baseline of its n_target, on every metric
    of ``data`` (the first is the primary one that names the baseline); Holm over the table."""
    primary = data.metrics[0]
    family: dict[tuple[str, int, str], Paired] = {}
    keys: list[tuple[str, int, str]] = []
    for n in data.n_targets:
        base = data.references(primary, n).get("baseline")
        if base is None:
            continue
        for v in data.competitors():
            if v == base:
                continue
            keys.append((v, n, base))
            for m in data.metrics:
                if direction(m) and data.cells[(v, m, n)].count and data.cells[(base, m, n)].count:
                    c = data._pair(v, base, m, n)
                    if c is not None:
                        family[(v, n, m)] = c
    adjusted = with_holm(family)
    rows = {(v, n): (base, {m: adjusted.get((v, n, m)) for m in data.metrics}) for v, n, base in keys}
    return Agreement(data, rows)


def rank_agreement(data: TableData) -> pd.DataFrame:
    """Kendall's tau between the competitors' orders by each pair of metrics, per n_target."""
    rows = []
    for n in data.n_targets:
        for a, b in itertools.combinations([m for m in data.metrics if direction(m)], 2):
            sa, sb = (1 if direction(a) == "min" else -1), (1 if direction(b) == "min" else -1)
            xs, ys = [], []
            for v in data.competitors():
                x, y = data.cells[(v, a, n)].mean, data.cells[(v, b, n)].mean
                if math.isfinite(x) and math.isfinite(y):
                    xs.append(sa * x)
                    ys.append(sb * y)
            tau, p = (stats.kendalltau(xs, ys) if len(xs) >= 3 else (math.nan, math.nan))
            rows.append({"setting": data.setting, "n_target": n, "metric_a": a, "metric_b": b,
                         "methods": len(xs), "kendall_tau": float(tau), "p": float(p)})
    return pd.DataFrame(rows, columns=["setting", "n_target", "metric_a", "metric_b", "methods", "kendall_tau", "p"])


def _verdict_text(c: Optional[Paired], metric: str) -> str:
    v = verdict(c, metric)
    if c is None:
        return v
    return f"{v} {c.better}/{c.n}" + ("*" if c.significant else "")


def to_markdown(ag: Agreement) -> str:
    """The verdict table, its note, and the rank-agreement table."""
    data = ag.data
    table = []
    for (v, n), (base, cmp) in ag.rows.items():
        row = {"n_target": n, "method": v, "source": data.row(v)[1], "vs": base}
        row.update({m: _verdict_text(cmp.get(m), m) for m in data.metrics})
        row["claim"] = claim(ag.verdicts(v, n))
        table.append(row)
    frame = pd.DataFrame(table, columns=["n_target", "method", "source", "vs", *data.metrics, "claim"])
    tested = sum(1 for _, cmp in ag.rows.values() for c in cmp.values() if c is not None)
    robust = sum(1 for key in ag.rows if claim(ag.verdicts(*key)).startswith("robust"))
    lines = [f"Agreement across metrics on {data.setting}: each row against the strongest default baseline "
             f"(vs: the best mean of finetune, lora and scratch on {data.metrics[0]} at that n_target).", ""]
    if data.protocol:
        lines[-1:-1] = ["", data.protocol[0].upper() + data.protocol[1:]]
    lines.append(frame.to_markdown(index=False, colalign=["right"] + ["left"] * (len(frame.columns) - 1))
                 if len(frame) else "(no comparison: no default baseline in this setting)")
    lines += ["", (f"Verdict per metric: better / worse where the paired t test over trials (scipy.stats.ttest_rel) "
                   f"is significant after Holm's correction over the {tested} comparisons of this table (α = 0.05, "
                   "* marks them), in the metric's direction; no difference otherwise; – with fewer than two "
                   "shared trials. k/N: trials where the row is better. Claim: robust better / worse only where "
                   f"every metric agrees; mixed where they disagree. {robust} of {len(ag.rows)} rows are robust.")]
    ranks = rank_agreement(data)
    if len(ranks):
        shown = ranks.assign(pair=ranks.metric_a + " vs " + ranks.metric_b)
        pivot = shown.pivot(index="pair", columns="n_target", values="kendall_tau")
        pivot = pivot.loc[list(dict.fromkeys(shown.pair))]
        pivot.columns = [f"n={n}" for n in pivot.columns]
        text = pivot.map(lambda x: DASH if not math.isfinite(x) else f"{x:.2f}")
        lines += ["", "Rank agreement: Kendall's tau (scipy.stats.kendalltau, tau-b) between the orders of the "
                  "competitor rows by two metrics (their means), per n_target; 1 = the same order, 0 = unrelated, "
                  "−1 = reversed.", "", text.to_markdown(colalign=["left"] + ["right"] * len(text.columns), disable_numparse=True)]
    return "\n".join(lines) + "\n"


def to_long_csv(ag: Agreement) -> str:
    rows = []
    for (v, n), (base, cmp) in ag.rows.items():
        robust = claim(ag.verdicts(v, n))
        for m in ag.data.metrics:
            c = cmp.get(m)
            rows.append({"setting": ag.data.setting, "n_target": n, "method": v, "source": ag.data.row(v)[1],
                         "baseline": base, "metric": m, "direction": direction(m) or "", "verdict": verdict(c, m),
                         **{f: (getattr(c, f) if c is not None else None)
                            for f in ("diff", "lo", "hi", "better", "n", "p", "p_holm")},
                         "claim": robust, "robust": robust.startswith("robust")})
    return pd.DataFrame(rows).to_csv(index=False, float_format="%.10g")


def write_agreement(data: TableData, folder: Path) -> list[Path]:
    """``agreement.md``, ``agreement.csv`` and ``rank_agreement.csv`` in ``folder``."""
    ag = agreement(data)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in (("agreement.md", to_markdown(ag)), ("agreement.csv", to_long_csv(ag)),
                       ("rank_agreement.csv", rank_agreement(data).to_csv(index=False, float_format="%.10g"))):
        atomic_write_text(folder / name, text)
        out.append(folder / name)
    return out
