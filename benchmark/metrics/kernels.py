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


def _kernel_sums(d2: torch.Tensor, bandwidth_sets: Sequence[Sequence[float]]) -> list[torch.Tensor]:
    """For each set B: sum over all entries of mean_{b in B} exp(-d2 / (2 b^2)), d2: (n, m).

    The exponentials are evaluated in float32 (kernel values lie in [0, 1]) and summed in
    float64; only the sums are kept, never a stack of kernel matrices."""
    d2f = d2.float()
    out = []
    for bandwidths in bandwidth_sets:
        total = torch.zeros((), dtype=torch.float64)
        for b in bandwidths:
            total += torch.exp(d2f * (-0.5 / (b * b))).sum(dtype=torch.float64)
        out.append(total / len(bandwidths))
    return out


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a, b).pow_(2)


def self_kernel_sums(y: torch.Tensor, bandwidth_sets: Sequence[Sequence[float]]) -> list[torch.Tensor]:
    """The y-y kernel sums of :func:`mmd2_unbiased_sets` (one float64 scalar per set); they depend
    on the reference y only, so a caller may compute them once and pass them as ``syy``."""
    y = y.double().flatten(1)
    return _kernel_sums(_sq_dists(y, y), bandwidth_sets)


def mmd2_unbiased_sets(x: torch.Tensor, y: torch.Tensor, bandwidth_sets: Sequence[Sequence[float]],
                       syy: Sequence[torch.Tensor] | None = None) -> list[float]:
    """Unbiased MMD^2 between x: (n, d) and y: (m, d), one value per bandwidth set, sharing
    the three distance matrices.  k(x, x) = 1 on the diagonal, so each self-sum drops n.
    ``syy``: the reference's :func:`self_kernel_sums` for the same sets, if already computed."""
    x, y = x.double().flatten(1), y.double().flatten(1)
    n, m = len(x), len(y)
    sxx = _kernel_sums(_sq_dists(x, x), bandwidth_sets)
    syy = self_kernel_sums(y, bandwidth_sets) if syy is None else list(syy)
    sxy = _kernel_sums(_sq_dists(x, y), bandwidth_sets)
    return [float((a - n) / (n * (n - 1)) + (b - m) / (m * (m - 1)) - 2.0 * c / (n * m))
            for a, b, c in zip(sxx, syy, sxy)]


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, bandwidths: Sequence[float]) -> float:
    """Unbiased MMD^2 between x: (n, d) and y: (m, d) with a (mixture) RBF kernel."""
    return mmd2_unbiased_sets(x, y, [bandwidths])[0]
