"""Precision, recall, density and coverage of generated samples (Naeem et al. 2020).

With real features X (N, d), fake features Y (M, d), and NND_k(z) the distance from z to
its k-th nearest neighbour within its own set (itself excluded), B(z, r) the open ball:

    precision = 1/M sum_j 1[ exists i: Y_j in B(X_i, NND_k(X_i)) ]
    recall    = 1/N sum_i 1[ exists j: X_i in B(Y_j, NND_k(Y_j)) ]
    density   = 1/(k M) sum_j sum_i 1[ Y_j in B(X_i, NND_k(X_i)) ]
    coverage  = 1/N sum_i 1[ exists j: Y_j in B(X_i, NND_k(X_i)) ]

(the estimators of the reference ``prdc`` package, k = 5 by default).  Precision and
density measure fidelity, recall and coverage diversity; for two samples of the same
distribution density is about 1 and coverage about 1 - 2^-k.
"""

from __future__ import annotations

import torch


def kth_neighbour_distance(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N,) distance of each row of x: (N, d) to its k-th nearest other row."""
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # the 1st value is the point itself (distance 0)


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> dict[str, float]:
    """Precision, recall, density, coverage of fake: (M, d) against real: (N, d)."""
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"prdc needs more than k={k} real and fake samples")
    real, fake = real.double().flatten(1), fake.double().flatten(1)
    r_real, r_fake = kth_neighbour_distance(real, k), kth_neighbour_distance(fake, k)
    d = torch.cdist(real, fake)  # (N, M)
    inside_real = d < r_real[:, None]
    return {
        "precision": float(inside_real.any(dim=0).double().mean()),
        "recall": float((d < r_fake[None, :]).any(dim=1).double().mean()),
        "density": float(inside_real.double().sum(dim=0).mean() / k),
        "coverage": float((d.min(dim=1).values < r_real).double().mean()),
    }
