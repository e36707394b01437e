"""Fréchet distance between two samples of feature vectors (the statistic of FID).

With means mu_a, mu_b and covariances S_a, S_b (``np.cov``, ddof = 1) of x_a: (N, d) and
x_b: (M, d),

    FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}),

the squared 2-Wasserstein distance between the Gaussians N(mu_a, S_a) and N(mu_b, S_b)
(Heusel et al. 2017).  The matrix square root is ``scipy.linalg.sqrtm`` in float64; its
real part is kept (round-off leaves tiny imaginary parts).  Where scipy reports the product
singular (``LinAlgWarning``) or the root is not finite, it is recomputed with eps·I
(eps = 1e-6) added to both covariances, as in the reference ``pytorch-fid`` code.  A tiny negative result from round-off is returned as 0.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

#: offset added to both covariances when sqrtm of their product is not finite
EPS = 1e-6


def _moments(x) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or len(a) < 2:
        raise ValueError(f"frechet_distance needs (N >= 2, d) features, got shape {a.shape}")
    return a.mean(0), np.atleast_2d(np.cov(a, rowvar=False))


def frechet_from_moments(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}), float64, clipped at 0."""
    diff = np.asarray(mu_a, np.float64) - np.asarray(mu_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
    if any(issubclass(w.category, linalg.LinAlgWarning) for w in caught) or not np.isfinite(root).all():
        offset = EPS * np.eye(len(cov_a))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(np.real(root)))
    return max(value, 0.0)


def frechet_distance(x_a, x_b) -> float:
    """Fréchet distance between the Gaussian fits of x_a: (N, d) and x_b: (M, d) (arrays or tensors)."""
    if hasattr(x_a, "detach"):
        x_a = x_a.detach().cpu().numpy()
    if hasattr(x_b, "detach"):
        x_b = x_b.detach().cpu().numpy()
    return frechet_from_moments(*_moments(x_a), *_moments(x_b))
