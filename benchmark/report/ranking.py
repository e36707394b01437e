"""A ranking across tasks and n_target: each method's mean rank over the cells it has.

A cell is one (setting, n_target, primary metric) column of the tables (the primary metric of
a setting is the first of :func:`benchmark.report.agreement.agreement_metrics`: MMD² on
gmm2d, downstream AUC on ecg-synth).  In a cell the competitor rows (not the references) are
ranked by their mean over trials in the metric's direction, 1 = best, ties sharing the mean
of their ranks (``scipy.stats.rankdata``, ``average``).  A method's mean rank is the mean of its
ranks over the cells it has (variants count as methods of their own).

Interval: a bootstrap over trials, :data:`RESAMPLES` resamples from
``numpy.random.default_rng(SEED)``.  In each resample every cell draws its trials with
replacement (the same draw for every row of the cell: trials are shared, so rows stay
paired), each row's mean is taken over its values at the drawn trials, the cell is ranked
again and the mean ranks recomputed; the interval is the 2.5 and 97.5 percentiles.  A cell
with one trial contributes the same ranks to every resample (its uncertainty is not
covered).  Ranks of cells with different numbers of rows are averaged as they are.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.report.metric_info import direction
from benchmark.report.tables import TableData
from benchmark.store import atomic_write_text

RESAMPLES = 1000
SEED = 0
SOURCES = ("paper", "paper+", "published", "ours")


@dataclass
class Ranking:
    """``frame``: one row per method (method, source, group, mean_rank, lo, hi, cells), sorted by
    mean rank; ``cells``: the (setting, n_target, metric) cells ranked."""

    frame: pd.DataFrame
    cells: list[tuple[str, int, str]]
    resamples: int = RESAMPLES
    protocol: str = ""  # the selection rule's note (of every table ranked)


def _cell_matrix(data: TableData, metric: str, n: int) -> tuple[list[str], np.ndarray]:
    """(rows, values rows x trials, nan where a row lacks a trial), oriented lower = better."""
    rows = [v for v in data.competitors() if data.cells[(v, metric, n)].count]
    trials = sorted({t for v in rows for t in data.cells[(v, metric, n)].by_trial()})
    sign = 1.0 if direction(metric) == "min" else -1.0
    values = np.full((len(rows), len(trials)), np.nan)
    for i, v in enumerate(rows):
        for t, x in data.cells[(v, metric, n)].by_trial().items():
            values[i, trials.index(t)] = sign * x
    return rows, values


def _rank(means: np.ndarray) -> np.ndarray:
    """Average ranks down axis 0 (1 = lowest); nan stays nan and is not ranked."""
    out = np.full(means.shape, np.nan)
    for j in range(means.shape[1]):
        ok = np.isfinite(means[:, j])
        out[ok, j] = stats.rankdata(means[ok, j], method="average")
    return out


def ranking(tables: Sequence[TableData], resamples: int = RESAMPLES, seed: int = SEED) -> Ranking:
    """Mean ranks over the cells of ``tables`` (each: one setting, its primary metric first)."""
    rng = np.random.default_rng(seed)
    point: dict[str, list[float]] = {}
    boot: dict[str, list[np.ndarray]] = {}
    info: dict[str, dict[str, None]] = {}  # method -> its (group, source) pairs, in order seen
    cells = []
    for data in tables:
        metric = data.metrics[0]
        if direction(metric) is None:
            continue
        for n in data.n_targets:
            rows, values = _cell_matrix(data, metric, n)
            if len(rows) < 2:
                continue
            cells.append((data.setting, n, metric))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a row with no drawn trial: nan, not ranked
                ranks = _rank(np.nanmean(values, axis=1)[:, None])[:, 0]
                idx = rng.integers(0, values.shape[1], size=(resamples, values.shape[1]))
                means = np.nanmean(values[:, idx], axis=2)  # rows x resamples
            boot_ranks = _rank(means)
            for i, v in enumerate(rows):
                info.setdefault(v, {})[data.row(v)] = None
                point.setdefault(v, []).append(float(ranks[i]))
                boot.setdefault(v, []).append(boot_ranks[i])
    rows_out = []
    for v, rs in point.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a row with no drawn trial: nan, not ranked
            per_resample = np.nanmean(np.vstack(boot[v]), axis=0)
        lo, hi = np.nanpercentile(per_resample, [2.5, 97.5]) if np.isfinite(per_resample).any() else (math.nan,) * 2
        group = "/".join(dict.fromkeys(g for g, _ in info[v]))
        source = "/".join(dict.fromkeys(s for _, s in info[v]))  # e.g. paper/paper+ where settings differ
        rows_out.append({"method": v, "source": source, "group": group, "mean_rank": float(np.mean(rs)),
                         "lo": float(lo), "hi": float(hi), "cells": len(rs)})
    frame = pd.DataFrame(rows_out, columns=["method", "source", "group", "mean_rank", "lo", "hi", "cells"])
    frame = frame.sort_values(["mean_rank", "method"], kind="stable").reset_index(drop=True)
    return Ranking(frame, cells, resamples)


def to_markdown(rk: Ranking) -> str:
    settings = sorted({s for s, _, _ in rk.cells})
    frame = rk.frame.assign(**{"mean rank": rk.frame.mean_rank.map(lambda x: f"{x:.2f}"),
                               "95 % interval": [f"[{a:.2f}, {b:.2f}]" for a, b in zip(rk.frame.lo, rk.frame.hi)]})
    frame = frame[["method", "source", "group", "mean rank", "95 % interval", "cells"]]
    lines = [f"Mean rank of each method over {len(rk.cells)} cells (setting, n_target, primary metric) of "
             f"{', '.join(settings)}; 1 = best.", "",
             frame.to_markdown(index=False, colalign=["left"] * 3 + ["right"] * 3, disable_numparse=True), "",
             ("In each cell the competitor rows (not source-only, the oracles or the floor) are ranked by their mean "
              "over trials in the metric's direction (ties: average rank); a method's mean rank is over the cells "
              "it has (cells: how many). Interval: 2.5–97.5 percentiles over "
              f"{rk.resamples} bootstrap resamples of the trials within each cell (numpy default_rng({SEED}); the "
              "same drawn trials for every row of a cell); a cell with one trial contributes fixed ranks. Cells: "
              + "; ".join(f"{s} n={n} {m}" for s, n, m in rk.cells) + ".")]
    if rk.protocol:
        lines += ["", rk.protocol[0].upper() + rk.protocol[1:]]
    return "\n".join(lines) + "\n"


def write_ranking(rk: Ranking, folder: Path) -> list[Path]:
    """``ranking.md`` and ``ranking.csv`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "ranking.md", folder / "ranking.csv"]
    atomic_write_text(paths[0], to_markdown(rk))
    atomic_write_text(paths[1], rk.frame.to_csv(index=False, float_format="%.10g"))
    return paths


def primary_tables(runs: Any, tidy: pd.DataFrame, methods: Any = None, protocol: str = "") -> list[TableData]:
    """One :class:`TableData` per setting with its primary metric (none where it has none)."""
    from benchmark.report.agreement import agreement_metrics
    from benchmark.report.tables import table_data

    out = []
    for setting in sorted(tidy.setting.unique()):
        task = str(runs.frame.task[runs.frame.setting == setting].iloc[0])
        metrics = agreement_metrics(task, sorted(tidy[tidy.setting == setting].metric.unique()))
        if metrics:
            out.append(table_data(runs, tidy, setting, metrics[:1], methods, protocol))
    return out
