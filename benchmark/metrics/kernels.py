"""RBF-kernel MMD, the unbiased estimator.

    MMD_u^2 = 1/(n(n-1)) sum_{i!=j} k(x_i, x_j) + 1/(m(m-1)) sum_{i!=j} k(y_i, y_j)
              - 2/(nm) sum_{i,j} k(x_i, y_j),
    k(x, y) = mean_b exp(-||x - y||^2 / (2 b^2))  over bandwidths b.

The bandwidths are fixed per task and trial from the held-out target reference (median
heuristic: b_med = median pairwise distance), so every method is scored with the same
kernel.  The multi-bandwidth mix is b_med * (0.25, 0.5, 1, 2, 4).
"""

from __future__ import annotations

from typing import Sequence

import torch

MIX = (0.25, 0.5, 1.0, 2.0, 4.0)


def median_bandwidth(x: torch.Tensor, max_n: int = 1000) -> float:
    """Median pairwise Euclidean distance of (up to max_n) rows of x: (N, d)."""
    x = x[:max_n].double().flatten(1)
    d = torch.cdist(x, x)
    iu = torch.triu_indices(len(x), len(x), offset=1)
    return float(d[iu[0], iu[1]].median())


def _kernel(d2: torch.Tensor, bandwidths: Sequence[float]) -> torch.Tensor:
    """mean_b exp(-d2 / (2 b^2)) for squared distances d2: (n, m), summed into one (n, m) buffer
    (stacking len(bandwidths) copies first made the metric several times slower)."""
    out = torch.zeros_like(d2)
    for b in bandwidths:
        out.add_(torch.exp(d2 * (-0.5 / (b * b))))
    return out.div_(len(bandwidths))


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, bandwidths: Sequence[float]) -> float:
    """Unbiased MMD^2 between x: (n, d) and y: (m, d) with a (mixture) RBF kernel."""
    x, y = x.double().flatten(1), y.double().flatten(1)
    n, m = len(x), len(y)
    kxx = _kernel(torch.cdist(x, x).pow(2), bandwidths)
    kyy = _kernel(torch.cdist(y, y).pow(2), bandwidths)
    kxy = _kernel(torch.cdist(x, y).pow(2), bandwidths)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(sxx + syy - 2.0 * kxy.mean())
