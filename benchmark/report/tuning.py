"""The tuning effect: what selecting among K draws changes, per setting, method and n_target.

``tables/<slug>/tuning.{md,csv}``: for every tuned row (a variant with holdout runs) and
n_target, the test metric (``mmd`` where recorded, else the setting's primary metric) under
the ``default``, ``target-val`` and ``oracle`` rules (mean ± std over the trials the tables
read), and the paired differences target-val − default and oracle − default by trial
(:func:`benchmark.report.paired.paired`: mean, 95 % paired-t interval, sign count; unadjusted,
no multiplicity correction).  Under target-val and oracle the reported model is trained on
n − h targets, under default on all n: the difference is the net effect of tuning and of
giving up h targets for selection.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from benchmark.report.agreement import agreement_metrics
from benchmark.report.metric_info import direction
from benchmark.report.paired import format_paired, paired
from benchmark.report.runs import RunSet
from benchmark.report.tables import DASH, TableData, format_mean_std, table_data
from benchmark.store import atomic_write_text

RULE_COLUMNS = ("default", "target-val", "oracle")


def tuning_metric(task: str, metrics: list[str]) -> str | None:
    if "mmd" in metrics:
        return "mmd"
    primary = agreement_metrics(task, metrics)
    return primary[0] if primary else None


def _cell(data: TableData, v: str, m: str, n: int) -> str:
    c = data.cells.get((v, m, n))
    if c is None or not c.count:
        return DASH
    return f"{format_mean_std(c.mean, c.std, latex=False)} ({c.count})"


def tuning_frame(per_rule: Mapping[str, tuple[RunSet, pd.DataFrame]], setting: str, tuned: set[str],
                 methods: Any = None) -> tuple[pd.DataFrame, str, dict[str, TableData]]:
    """(one row per tuned variant x n_target, the metric, the rule's table data)."""
    runs, tidy = per_rule["default"]
    task = str(runs.frame.task[runs.frame.setting == setting].iloc[0])
    metric = tuning_metric(task, sorted(tidy[tidy.setting == setting].metric.unique()))
    if metric is None:
        return pd.DataFrame(), "", {}
    data = {rule: table_data(r, t, setting, [metric], methods) for rule, (r, t) in per_rule.items()}
    d = direction(metric) or "min"
    rows = []
    for v in [v for v in data["default"].variants if v in tuned]:
        for n in data["default"].n_targets:
            row: dict[str, Any] = {"setting": setting, "method": v, "n_target": n, "metric": metric}
            for rule in RULE_COLUMNS:
                c = data[rule].cells.get((v, metric, n)) if rule in data else None
                row[f"{rule}_mean"] = c.mean if c is not None else math.nan
                row[f"{rule}_std"] = c.std if c is not None else math.nan
                row[f"{rule}_seeds"] = c.count if c is not None else 0
            base = data["default"].cells[(v, metric, n)].by_trial()
            for rule in ("target-val", "oracle"):
                key = rule.replace("-", "_")
                c = data[rule].cells.get((v, metric, n)) if rule in data else None
                other = c.by_trial() if c is not None else {}
                shared = sorted(set(base) & set(other))
                p = paired([other[t] for t in shared], [base[t] for t in shared], d) if shared else None
                for f in ("diff", "lo", "hi", "better", "n", "p"):
                    row[f"{key}_minus_default_{f}"] = getattr(p, f) if p is not None else None
                row[f"_{key}_paired"] = p
            rows.append(row)
    return pd.DataFrame(rows), metric, data


def to_markdown(frame: pd.DataFrame, setting: str, metric: str, data: Mapping[str, TableData],
                notes: Mapping[str, str] = {}) -> str:
    fmt = lambda x: format_mean_std(x, math.nan, False, sig=2)  # noqa: E731
    shown = []
    for r in frame.to_dict("records"):
        row = {"method": r["method"], "n_target": r["n_target"]}
        for rule in RULE_COLUMNS:
            row[rule] = _cell(data[rule], r["method"], metric, r["n_target"]) if rule in data else DASH
        for rule in ("target-val", "oracle"):
            p = r[f"_{rule.replace('-', '_')}_paired"]
            row[f"Δ {rule} − default"] = format_paired(p, fmt) if p is not None else DASH
        shown.append(row)
    table = pd.DataFrame(shown)
    lines = [f"Tuning effect on {setting}: test {metric} ("
             f"{'lower' if direction(metric) == 'min' else 'higher'} is better) of each tuned method under the three "
             "selection rules; mean ± std (trials).", "",
             table.to_markdown(index=False, colalign=["left", "right"] + ["right"] * (len(table.columns) - 2),
                               disable_numparse=True) if len(table) else "(no tuned method in this setting)", "",
             "Δ X − default: mean paired difference over the trials both rules have, [95 % paired-t interval] "
             "(scipy.stats.ttest_rel; unadjusted), k/N: trials where X is better. target-val and oracle report a "
             "model trained on n − h targets, default one trained on all n: Δ is the net effect of tuning and of "
             "holding h targets out."]
    for rule in RULE_COLUMNS:
        if notes.get(rule):
            lines += ["", notes[rule][0].upper() + notes[rule][1:]]
    return "\n".join(lines) + "\n"


def write_tuning(per_rule: Mapping[str, tuple[RunSet, pd.DataFrame]], tuned: set[tuple[str, str]], folder: Path,
                 methods: Any = None, notes: Mapping[str, Any] = {}) -> list[str]:
    """``<slug>/tuning.{md,csv}`` in ``folder`` for every setting with a tuned row (``notes``: each
    rule's protocol note, or ``{rule: {setting: note}}``, each setting's own trials); returns the stems."""
    runs, tidy = per_rule["default"]
    stems = []
    for setting in sorted(tidy.setting.unique()):
        variants = {v for s, v in tuned if s == setting}
        if not variants:
            continue
        frame, metric, data = tuning_frame(per_rule, setting, variants, methods)
        if not metric:
            continue
        slug = str(runs.frame.slug[runs.frame.setting == setting].iloc[0])
        (folder / slug).mkdir(parents=True, exist_ok=True)
        own = {r: (n if isinstance(n, str) else n.get(setting, "")) for r, n in notes.items()}
        atomic_write_text(folder / slug / "tuning.md", to_markdown(frame, setting, metric, data, own))
        csv = frame[[c for c in frame.columns if not c.startswith("_")]]
        atomic_write_text(folder / slug / "tuning.csv", csv.to_csv(index=False, float_format="%.10g"))
        stems.append(f"{slug}/tuning")
    return stems
