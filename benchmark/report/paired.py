"""Paired comparisons of table rows by trial, and Holm's step-down correction.

Within a (setting, n_target) every method of a suite shares its trials: trial i fixes the
source pool, the nested target subset, the test fold and the cached source model.  So two
rows A and B of one column are compared on their per-trial differences

    d_i = M_A(i) - M_B(i),   i over the trials both rows have (N of them),

not on their separate means.  For a column of direction ``min`` a negative d is "A better".

Statistics of one comparison (:func:`paired`):

* mean difference  d̄ = (1/N) Σ d_i;
* the 95 % paired-t interval  d̄ ± t_{0.975, N-1} · s_d / √N  with s_d the sample std
  (ddof = 1) of the d_i: ``scipy.stats.ttest_rel(a, b).confidence_interval(0.95)``, and its
  two-sided p-value (the t statistic d̄ / (s_d / √N) on N - 1 degrees of freedom);
* the sign count k/N: the trials in which A is better than B in the metric's direction;
* where N ≥ 6 (the smallest N at which an exact two-sided signed-rank test can reach
  p < 0.05: its smallest p-value is 2 / 2^N) the exact Wilcoxon signed-rank p-value,
  ``scipy.stats.wilcoxon``, reported beside the t test (the t test decides the marks).

With N < 2 there is no interval and nothing is marked.  When all d_i are equal (s_d = 0, up to
rounding: relative 1e-9) the
interval is the point [d̄, d̄]; p = 1 if d̄ = 0, else 0.

Holm's step-down correction (:func:`holm`) over a family of m p-values p_1..p_m: sort them,
p_(1) ≤ … ≤ p_(m); the adjusted values are

    p̃_(j) = max_{i ≤ j} min(1, (m - i + 1) · p_(i)),

and comparison j is significant at level α where p̃_(j) ≤ α.  This is Holm (1979), which
controls the family-wise error rate; ``scipy.stats.false_discovery_control`` is
Benjamini–Hochberg (false discovery rate), not Holm, so the few lines are written here.
The family is every comparison of one kind in one table (all its rows, metrics and n_target
columns).  A comparison significant after Holm is one whose (1 - α/(m - i + 1)) t interval
excludes 0, i.e. the unadjusted 95 % interval shown is narrower than the one that decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05
WILCOXON_MIN_N = 6  # smallest N with an exact two-sided signed-rank p-value below 0.05 (2/2^N)


@dataclass(frozen=True)
class Paired:
    """One paired comparison of row A against row B in one column (see the module docstring).

    ``diff`` is mean(A - B); ``lo``/``hi`` the 95 % paired-t interval (nan with N < 2);
    ``better`` the number of trials where A beats B in the metric's direction; ``p`` the
    two-sided paired-t p-value (nan with N < 2); ``p_wilcoxon`` the exact signed-rank p-value
    where N ≥ 6; ``p_holm`` the Holm-adjusted p-value within its table's family (set by
    :func:`with_holm`).
    """

    diff: float
    lo: float
    hi: float
    better: int
    n: int
    p: float
    p_wilcoxon: Optional[float] = None
    p_holm: float = math.nan

    @property
    def significant(self) -> bool:
        """True where the Holm-adjusted p-value is at most :data:`ALPHA`."""
        return math.isfinite(self.p_holm) and self.p_holm <= ALPHA


def paired(a: Sequence[float], b: Sequence[float], direction: str) -> Paired:
    """Compare the per-trial values ``a`` and ``b`` (same trials, same order)."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    d = x - y
    n = len(d)
    sign = -1.0 if direction == "min" else 1.0
    better = int(np.sum(sign * d > 0))
    diff = float(np.mean(d)) if n else math.nan
    if n < 2:
        return Paired(diff, math.nan, math.nan, better, n, math.nan)
    if np.allclose(d, d[0], rtol=1e-9, atol=0.0):  # equal up to rounding: s_d = 0
        return Paired(diff, diff, diff, better, n, 1.0 if diff == 0 else 0.0, _wilcoxon(d))
    res = stats.ttest_rel(x, y)
    ci = res.confidence_interval(1 - ALPHA)
    return Paired(diff, float(ci.low), float(ci.high), better, n, float(res.pvalue), _wilcoxon(d))


def _wilcoxon(d: np.ndarray) -> Optional[float]:
    if len(d) < WILCOXON_MIN_N or not np.any(d != 0):
        return None
    return float(stats.wilcoxon(d, method="exact" if np.all(d != 0) else "auto").pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order (nan stays nan and is not counted in m)."""
    p = np.asarray(pvalues, float)
    finite = np.flatnonzero(np.isfinite(p))
    out = np.full(len(p), math.nan)
    m = len(finite)
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return [float(v) for v in out]


def with_holm(family: dict) -> dict:
    """The same ``{key: Paired}`` with ``p_holm`` set by Holm over the whole family."""
    keys = list(family)
    adjusted = holm([family[k].p for k in keys])
    return {k: Paired(**{**family[k].__dict__, "p_holm": a}) for k, a in zip(keys, adjusted)}


def format_paired(c: Paired, fmt, latex: bool = False) -> str:
    """``−0.0123 [−0.0200, −0.0046] 3/3*`` (``fmt`` formats one number; ``*`` where significant
    after Holm); one trial: the difference and ``1/1`` only."""
    text = fmt(c.diff)
    if math.isfinite(c.lo):
        text += f" [{fmt(c.lo)}, {fmt(c.hi)}]"
    text += f" {c.better}/{c.n}"
    if c.significant:
        text += "$^{*}$" if latex else "*"
    return text
