"""Sample metrics for tasks with vector data: MMD (+ its floor), density error, sliced W2.

Every metric compares the generated samples with the held-out target set ``test_x``,
which no method sees.  ``test_x`` is split in halves A and B: metrics use A as the
reference; ``mmd_floor`` compares A with B, so a reader sees what "perfect" looks like.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from benchmark.metrics.context import EvalContext
from benchmark.metrics.kernels import MIX, median_bandwidth, mmd2_unbiased, mmd2_unbiased_sets, self_kernel_sums
from benchmark.registry import register_metric
from benchmark.seeding import derive_seed, torch_generator


def _halves(ctx: EvalContext) -> tuple[torch.Tensor, torch.Tensor]:
    half = len(ctx.data.test_x) // 2
    return ctx.data.test_x[:half], ctx.data.test_x[half: 2 * half]


def _bandwidths(ref: torch.Tensor) -> tuple[float, list[float]]:
    med = median_bandwidth(ref)
    return med, [med * f for f in MIX]


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def mmd_reference(ctx: EvalContext) -> dict[str, Any]:
    """The method-independent part of ``mmd`` and ``mmd_floor``, computed once per held-out set
    (a cached stage ``mmd-reference`` keyed by the bytes of ``test_x``): b_med of half A, the A-A
    kernel sums for the two bandwidth sets, and the floor statistic.  The values are the ones
    the metrics computed inline before (same operations, same order)."""
    ref, other = _halves(ctx)

    def build() -> dict[str, Any]:
        med, mix = _bandwidths(ref)
        sets = [mix, [med]]
        return {"median": med, "syy": self_kernel_sums(ref, sets),
                "floor": mmd2_unbiased(other[: len(ref)], ref, mix)}

    if ctx.cache is None:
        return build()
    return ctx.cache.get_or_build("mmd-reference", {"test": _digest(ctx.data.test_x), "mix": list(MIX)}, build)


@register_metric("mmd", "unbiased RBF MMD^2 of samples vs held-out target (mix of 5 bandwidths, and median only)")
def mmd(ctx: EvalContext) -> dict[str, float]:
    """Unbiased MMD^2 between the generated samples and held-out target half A, with an RBF
    kernel averaged over bandwidths b_med * (0.25, 0.5, 1, 2, 4) (``mmd``) and with b_med
    alone (``mmd_median``); b_med is the median pairwise distance of A."""
    ref, _ = _halves(ctx)
    r = mmd_reference(ctx)
    med = r["median"]
    x = ctx.samples[: len(ref)]
    mixed, median = mmd2_unbiased_sets(x, ref, [[med * f for f in MIX], [med]], syy=r["syy"])
    return {"mmd": mixed, "mmd_median": median}


@register_metric("mmd_floor", "the mmd statistic between two independent held-out target halves")
def mmd_floor(ctx: EvalContext) -> dict[str, float]:
    """The ``mmd`` statistic between held-out target halves A and B (same size, same kernel):
    the value a perfect generator would get, up to sampling noise."""
    return {"mmd_floor": mmd_reference(ctx)["floor"]}


def kde_bandwidth(n: int, ref: torch.Tensor) -> float:
    """Scott's rule h = n^{-1/(d+4)} * mean per-dimension std of the reference."""
    d = ref.shape[1]
    return float(n ** (-1.0 / (d + 4)) * ref.double().std(0).mean())


def binned_kde(points: torch.Tensor, lin: torch.Tensor, h: float) -> torch.Tensor:
    """Gaussian KDE of 2-D ``points`` on the grid ``lin x lin`` (cell centres), by binning
    onto the grid and smoothing with a Gaussian of std h (scipy.ndimage.gaussian_filter);
    mass smoothed off the grid is dropped.  Returns densities (len(lin), len(lin))."""
    cell = float(lin[1] - lin[0])
    edges = np.concatenate([lin.numpy() - cell / 2, [float(lin[-1]) + cell / 2]])
    pts = points.double().numpy()
    hist, _, _ = np.histogram2d(pts[:, 0], pts[:, 1], bins=[edges, edges])
    smooth = gaussian_filter(hist, sigma=h / cell, mode="constant", truncate=5.0)
    return torch.from_numpy(smooth / (len(pts) * cell * cell))


@register_metric("density_error", "TV(KDE of samples, q smoothed by the same kernel) on a grid (d=2); |mean log q gap|")
def density_error(ctx: EvalContext) -> dict[str, float]:
    """``density_error`` (d = 2): total-variation distance 1/2 ∫|f̂ - q_h| on a 240x240 grid
    over [-3, 3]^2 plus 1/2 the sample mass off the grid, where f̂ is a (binned) Gaussian
    KDE of the samples with Scott's bandwidth h and
    q_h = q * N(0, h^2 I) is the exact target smoothed by the same kernel (so true target
    samples score ~0, free of the KDE's smoothing bias).  ``logq_gap`` (any d):
    |mean log q(samples) - mean log q(held-out target)|."""
    cf = ctx.data.closed_form
    ref, _ = _halves(ctx)
    x = ctx.samples[: len(ref)].double()
    out = {"logq_gap": float(abs(cf.target.log_prob(x).mean() - cf.target.log_prob(ref.double()).mean()))}
    if x.shape[1] == 2:
        h = kde_bandwidth(len(x), ref)
        lin = torch.linspace(-3.0, 3.0, 240, dtype=torch.float64)
        gx, gy = torch.meshgrid(lin, lin, indexing="ij")
        grid = torch.stack([gx.flatten(), gy.flatten()], 1)
        cell = float((lin[1] - lin[0]) ** 2)
        q = cf.target
        smoothed = type(q)(q.means, q.variances + h * h, q.weights, q.labels)
        f_hat = binned_kde(x, lin, h).flatten()
        off_grid = max(0.0, 1.0 - float(f_hat.sum() * cell))
        tv_grid = float(0.5 * (f_hat - smoothed.log_prob(grid).exp()).abs().sum() * cell)
        out["density_error"] = tv_grid + 0.5 * off_grid
    return out


@register_metric("sliced_wasserstein", "sliced 2-Wasserstein distance over 256 random directions")
def sliced_wasserstein(ctx: EvalContext) -> dict[str, float]:
    """Sliced W2 = sqrt(mean_u W2^2(<u, X>, <u, Y>)) over 256 unit directions u drawn once
    per task data (the same directions for every method), X the samples, Y target half A."""
    ref, _ = _halves(ctx)
    x = ctx.samples[: len(ref)].double().flatten(1)
    y = ref[: len(x)].double().flatten(1)
    gen = torch_generator(derive_seed(0, "eval", "sliced_wasserstein", ctx.data.target_key))
    u = torch.randn((x.shape[1], 256), generator=gen, dtype=torch.float64)
    u = u / u.norm(dim=0, keepdim=True)
    px, _ = torch.sort(x @ u, dim=0)
    py, _ = torch.sort(y @ u, dim=0)
    return {"sliced_wasserstein": float((px - py).pow(2).mean().sqrt())}
