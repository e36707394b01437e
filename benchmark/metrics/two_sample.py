"""Two-sample statistics that do not hinge on one kernel bandwidth (issue 27): the energy
distance, a classifier two-sample test (C2ST) and a permutation p-value for MMD^2.

All take generated samples x: (N, ...) and held-out target samples y: (M, ...) (flattened to
vectors) and are seeded from the caller, so a record is a function of its spec.

- Energy distance (Székely & Rizzo), the V-statistic
      E^2(x, y) = 2 mean_ij |x_i - y_j| - mean_ij |x_i - x_j| - mean_ij |y_i - y_j|,
  >= 0, 0 iff the two empirical distributions coincide; no bandwidth.  In one dimension
  E^2 = scipy.stats.energy_distance(x, y)^2 (scipy reports the square root), which the test
  checks.
- C2ST (Lopez-Paz & Oquab, ICLR 2017): the cross-validated accuracy of a k-nearest-neighbour
  classifier (k = round(sqrt(n)), scikit-learn) telling x from y on balanced, stratified,
  seeded folds.  Under H0 (same distribution) the accuracy is about Binomial(n, 1/2)/n, so its
  95 % null interval is 1/2 +- 1.96 sqrt(1/(4n)); 1/2 means indistinguishable.
- MMD^2 permutation p-value: the unbiased MMD^2 of (x, y) with the mixture-of-RBF kernel of
  :mod:`benchmark.metrics.kernels`, against its value under ``n_perm`` seeded random
  relabellings of the pooled sample; p = (1 + #{perm >= observed}) / (1 + n_perm).

The registered metric ``two_sample`` computes all three against held-out target half A; the
Gaussian-mixture tasks list it, so every gmm record carries them.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from benchmark.metrics.context import EvalContext
from benchmark.metrics.kernels import MIX, median_bandwidth
from benchmark.registry import register_metric
from benchmark.seeding import derive_seed


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().double().flatten(1)


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """E^2(x, y), the V-statistic of the module docstring."""
    a, b = _flat(x), _flat(y)
    xy = torch.cdist(a, b).mean()
    xx = torch.cdist(a, a).mean()
    yy = torch.cdist(b, b).mean()
    return float(2 * xy - xx - yy)


def c2st(x: torch.Tensor, y: torch.Tensor, seed: int, folds: int = 5) -> dict[str, float]:
    """``c2st_accuracy`` (mean over ``folds`` stratified folds) and the upper end of its 95 % null
    interval ``c2st_null_hi``, on n = 2 min(N, M) points (the first min(N, M) of each side)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    m = min(len(x), len(y))
    data = torch.cat([_flat(x[:m]), _flat(y[:m])]).numpy()
    label = np.concatenate([np.zeros(m), np.ones(m)])
    k = max(1, int(round(math.sqrt(2 * m))))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(seed) % (2**32))
    acc = cross_val_score(KNeighborsClassifier(n_neighbors=k), data, label, cv=cv, scoring="accuracy")
    return {"c2st_accuracy": float(acc.mean()), "c2st_null_hi": 0.5 + 1.96 * math.sqrt(1.0 / (4 * 2 * m))}


def _mixed_kernel(z: torch.Tensor, bandwidths: Sequence[float]) -> torch.Tensor:
    d2 = torch.cdist(z, z).pow(2)
    return sum(torch.exp(-d2 / (2 * b * b)) for b in bandwidths) / len(bandwidths)


def _mmd2_for_labellings(k: torch.Tensor, wx: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 for every labelling column of ``wx`` ((n, P) 0/1, m ones each) of a pooled
    kernel matrix k (n, n), with one matrix product K @ wx for all P labellings."""
    m = wx[:, 0].sum()
    n = wx.shape[0]
    wy = 1.0 - wx
    kdiag = torch.diagonal(k).unsqueeze(1)
    a = k @ wx                      # K w_x
    r = k.sum(1, keepdim=True)      # K 1
    sxx = (wx * (a - kdiag * wx)).sum(0) / (m * (m - 1))
    syy = (wy * ((r - a) - kdiag * wy)).sum(0) / ((n - m) * (n - m - 1))
    sxy = (wx * (r - a)).sum(0) / (m * (n - m))
    return sxx + syy - 2 * sxy


def mmd_permutation_pvalue(x: torch.Tensor, y: torch.Tensor, seed: int, n_perm: int = 200,
                           max_n: int = 1000) -> dict[str, float]:
    """``mmd_pvalue`` of the module docstring on the first ``max_n`` points of each side (the
    kernel matrix is (2 max_n)^2); bandwidths b_med * (0.25, 0.5, 1, 2, 4) of the target side."""
    m = min(len(x), len(y), max_n)
    a, b = _flat(x[:m]), _flat(y[:m])
    med = median_bandwidth(b)
    k = _mixed_kernel(torch.cat([a, b]), [med * f for f in MIX])
    labels = torch.cat([torch.ones(m), torch.zeros(m)]).double()
    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    perms = [labels[torch.randperm(2 * m, generator=gen)] for _ in range(n_perm)]
    stats = _mmd2_for_labellings(k, torch.stack([labels, *perms], 1))
    exceed = int((stats[1:] >= stats[0]).sum())
    return {"mmd_pvalue": (1 + exceed) / (1 + n_perm)}


@register_metric("two_sample", "energy distance, C2ST accuracy (kNN) and MMD^2 permutation p-value vs held-out target")
def two_sample(ctx: EvalContext) -> dict[str, float]:
    """``energy_distance``, ``c2st_accuracy`` (+ ``c2st_null_hi``) and ``mmd_pvalue`` of the
    generated samples against held-out target half A (module docstring), seeded from the run's
    eval seed."""
    half = len(ctx.data.test_x) // 2
    ref = ctx.data.test_x[:half]
    x = ctx.samples[: len(ref)]
    out = {"energy_distance": energy_distance(x, ref)}
    out.update(c2st(x, ref, derive_seed(ctx.seed, "c2st")))
    out.update(mmd_permutation_pvalue(x, ref, derive_seed(ctx.seed, "mmd-permutation")))
    return out
