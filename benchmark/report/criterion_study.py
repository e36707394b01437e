"""The criterion study: which ``select_*`` column orders a method's draws as the test metric does?

Read on **development** trials only (ids < 100, :mod:`benchmark.protocol.trials`): its result
sets :data:`benchmark.protocol.selection.TARGET_VAL_CRITERION`, a design choice, so the
evaluation trials never inform it.

Per group (setting, n_target, trial, variant) with at least :data:`MIN_DRAWS` done holdout
runs, and per criterion (:data:`benchmark.protocol.selection.SELECT_COLUMNS`) with a finite
value on at least :data:`MIN_DRAWS` of them:

* Spearman's ρ (``scipy.stats.spearmanr``) across the draws between the criterion and the
  test metric :data:`TEST_METRIC` (nan where either is constant);
* the regret: the test metric of the draw the criterion selects (its argmin, ties to the
  lowest draw) minus the best test metric over the draws (0 = it picked the best draw); the
  regret of draw 0 (no selection) is given beside it.

Aggregated per method family (:data:`FAMILIES`; an unknown method is a family of its own),
n_target and criterion: mean ρ, a 95 % bootstrap interval over the groups
(``scipy.stats.bootstrap``, percentile method, :data:`RESAMPLES` resamples,
``numpy.random.default_rng(SEED)``), the number of groups, the mean regret.

Written into the report folder as ``criterion_study.md``, ``criterion_study.csv`` (the
aggregate) and ``criterion_study_groups.csv`` (one row per group and criterion).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.protocol.holdout import holdout_size
from benchmark.protocol.selection import SELECT_COLUMNS, TARGET_VAL_CRITERION
from benchmark.protocol.trials import is_evaluation
from benchmark.report.runs import RunSet
from benchmark.store import atomic_write_text

TEST_METRIC = "mmd"
MIN_DRAWS = 3
RESAMPLES = 2000
SEED = 0
_FINETUNE = ("finetune", "lora", "difffit", "dogfit")
_GUIDED = ("domain-guidance", "x0-guidance", "deft", "tiw-dsm", "domain-cfg", "importance-weighted")
#: method -> family (the one place it is kept); tgdp* by prefix in :func:`family`
FAMILIES: dict[str, str] = {
    **{m: "finetune-like" for m in _FINETUNE}, **{f"{m}-cond": "finetune-like" for m in _FINETUNE},
    "scratch": "scratch", "scratch-cond": "scratch",
    **{m: "guided" for m in _GUIDED}, **{f"{m}-cond": "guided" for m in _GUIDED},
}


def family(variant: str) -> str:
    """The family of a row (its method: the variant without ``[tag]``)."""
    method = variant.split("[", 1)[0]
    if method.startswith("tgdp"):
        return "guided"
    return FAMILIES.get(method, method)


def _regret(crit: np.ndarray, test: np.ndarray, draws: np.ndarray) -> float:
    order = np.lexsort((draws, crit))  # argmin of the criterion, ties to the lowest draw
    return float(test[order[0]] - test.min())


def group_frame(runs: RunSet) -> pd.DataFrame:
    """One row per (group, criterion) on development trials (module docstring)."""
    done = runs.done()
    done = done[(done.holdout > 0) & ~done.trial.map(is_evaluation)]
    rows = []
    for (setting, n, trial, variant), g in done.groupby(["setting", "n_target", "trial", "variant"], sort=True):
        if len(g) < MIN_DRAWS:
            continue
        metrics = [runs.records[rid].get("metrics", {}) for rid in g.run_id]
        test = np.array([float(m.get(TEST_METRIC, math.nan)) for m in metrics])
        draws = g.draw.to_numpy()
        for crit in SELECT_COLUMNS:
            x = np.array([float(m.get(crit, math.nan)) if m.get(crit) is not None else math.nan for m in metrics])
            ok = np.isfinite(x) & np.isfinite(test)
            if ok.sum() < MIN_DRAWS:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a constant input: rho is nan
                rho = float(stats.spearmanr(x[ok], test[ok]).statistic)
            zero = np.flatnonzero(draws[ok] == 0)
            rows.append({"setting": setting, "n_target": int(n), "trial": int(trial), "variant": variant,
                         "family": family(variant), "criterion": crit, "draws": int(ok.sum()), "spearman_rho": rho,
                         "regret": _regret(x[ok], test[ok], draws[ok]),
                         "regret_draw0": float(test[ok][zero[0]] - test[ok].min()) if len(zero) else math.nan})
    cols = ["setting", "n_target", "trial", "variant", "family", "criterion", "draws", "spearman_rho", "regret",
            "regret_draw0"]
    return pd.DataFrame(rows, columns=cols)


def _interval(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) < 2 or np.all(values == values[0]):
        v = float(values[0]) if len(values) else math.nan
        return (v, v) if len(values) >= 2 else (math.nan, math.nan)
    res = stats.bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=RESAMPLES, method="percentile",
                          random_state=np.random.default_rng(SEED))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def aggregate(groups: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (fam, n, crit), g in groups.groupby(["family", "n_target", "criterion"], sort=True):
        rho = g.spearman_rho.to_numpy(float)
        lo, hi = _interval(rho)
        rows.append({"family": fam, "n_target": int(n), "criterion": crit, "groups": len(g),
                     "groups_with_rho": int(np.isfinite(rho).sum()),
                     "mean_rho": float(np.nanmean(rho)) if np.isfinite(rho).any() else math.nan, "rho_lo": lo,
                     "rho_hi": hi, "mean_regret": float(g.regret.mean()), "mean_regret_draw0": float(g.regret_draw0.mean())})
    cols = ["family", "n_target", "criterion", "groups", "groups_with_rho", "mean_rho", "rho_lo", "rho_hi",
            "mean_regret", "mean_regret_draw0"]
    return pd.DataFrame(rows, columns=cols)


def _noise_sentence(agg: pd.DataFrame, groups: pd.DataFrame) -> str:
    if agg.empty:
        return ""
    n0 = int(agg.n_target.min())
    a = agg[(agg.n_target == n0) & (agg.criterion == TARGET_VAL_CRITERION)]
    g = groups[(groups.n_target == n0) & (groups.criterion == TARGET_VAL_CRITERION)]
    h = holdout_size(n0)  # the rule the planner held out by (benchmark/protocol/holdout.py)
    text = (f"How noisy at n = {n0}: the target-val criteria are measured on h = {h} held-out targets only "
            f"(h = max(2, round(0.2 n))).")
    if len(a) and len(g):
        widths = (a.rho_hi - a.rho_lo).dropna()
        spread = float(np.nanstd(g.spearman_rho, ddof=1)) if np.isfinite(g.spearman_rho).sum() > 1 else math.nan
        text += (f" For {TARGET_VAL_CRITERION} the per-group ρ has a std of {spread:.2f} across {len(g)} groups"
                 + (f", and the 95 % intervals of the family means are {widths.mean():.2f} wide on average"
                    if len(widths) else "") + "; a mean ρ inside such an interval is not told apart from its neighbours.")
    else:
        text += f" No group at n = {n0} has {TARGET_VAL_CRITERION}."
    return text


def to_markdown(agg: pd.DataFrame, groups: pd.DataFrame) -> str:
    lines = ["# Criterion study (development trials only)", "",
             f"Which selection criterion orders a method's hyper-parameter draws as the test {TEST_METRIC} does? "
             f"Per (setting, n_target, trial, method) with ≥ {MIN_DRAWS} done holdout runs: Spearman's ρ across the "
             f"draws between the criterion and the test {TEST_METRIC} (scipy.stats.spearmanr; 1 = same order), and "
             f"the regret of selecting by the criterion (test {TEST_METRIC} of its argmin − the best draw's). The "
             f"target-val criterion now in use is {TARGET_VAL_CRITERION}.", ""]
    if agg.empty:
        lines.append(f"No group with ≥ {MIN_DRAWS} holdout runs on development trials.")
        return "\n".join(lines) + "\n"
    shown = agg.assign(**{
        "mean ρ [95 %]": [f"{m:.2f} [{a:.2f}, {b:.2f}]" if math.isfinite(m) else "–"
                          for m, a, b in zip(agg.mean_rho, agg.rho_lo, agg.rho_hi)],
        "regret": agg.mean_regret.map(lambda x: f"{x:.3g}"),
        "regret draw 0": agg.mean_regret_draw0.map(lambda x: f"{x:.3g}" if math.isfinite(x) else "–")})
    shown = shown[["family", "n_target", "criterion", "groups", "mean ρ [95 %]", "regret", "regret draw 0"]]
    lines += [shown.to_markdown(index=False, disable_numparse=True), "",
              f"mean ρ: over the groups; [95 %]: bootstrap over the groups (scipy.stats.bootstrap, percentile, "
              f"{RESAMPLES} resamples, numpy default_rng({SEED})); groups: how many. regret: mean over the groups "
              f"(0 = the best draw is selected); regret draw 0: the same for the default draw (no selection). "
              "Families: finetune-like (finetune, lora, difffit, dogfit and -cond), scratch, guided (tgdp*, "
              "domain-guidance, x0-guidance, deft, tiw-dsm, domain-cfg, importance-weighted); others by name.", "",
              _noise_sentence(agg, groups)]
    return "\n".join(lines) + "\n"


def write_criterion_study(runs: RunSet, folder: Path) -> Optional[list[str]]:
    """Write the study into ``folder``; None (nothing written) where no run has a holdout."""
    if not (runs.frame.holdout > 0).any():
        return None
    groups = group_frame(runs)
    agg = aggregate(groups)
    names = ["criterion_study.md", "criterion_study.csv", "criterion_study_groups.csv"]
    atomic_write_text(folder / names[0], to_markdown(agg, groups))
    atomic_write_text(folder / names[1], agg.to_csv(index=False, float_format="%.10g"))
    atomic_write_text(folder / names[2], groups.to_csv(index=False, float_format="%.10g"))
    return names
