"""Gaussian-mixture transfer tasks with closed-form densities, scores and ratios.

``gmm2d`` follows the published reproduction of the paper's simulation:
    p = 1/2 N(mu_S, s^2 I) + 1/2 N(-mu_S, s^2 I),  mu_S = (0.5, 0.5)
    q = 1/2 N(mu_T, s^2 I) + 1/2 N(-mu_T, s^2 I),  mu_T = (0.5, -0.5),   s^2 = 0.1
with m = 10,000 source samples; the label is the mixture component.  Its ``separation``
s >= 0 (default 1) moves each target mean along the line from its source counterpart:
    mu_T(s) = mu_S + s * (mu_T - mu_S)     (the -mu_T(s) component likewise from -mu_S),
so s = 1 is the geometry above, s = 0 puts q = p (log r = 0 everywhere) and s = 2 moves the
target twice as far.  The data streams do not depend on s (common random numbers: every s
draws the same source pool and the same target noise, only the target means move), and the
keys carry s only where s != 1, so at s = 1 every array and key is that of the task without s.
``gmm-highdim`` uses the same construction in d dimensions with
mu_S = sqrt(2/d) * 0.5 * (1, 1, ..., 1) and mu_T = sqrt(2/d) * 0.5 * (1, -1, 1, -1, ...),
so ||mu|| and the angle between the domains are those of d = 2 for every d.
``gmm-noisy-source`` replaces a fraction eps of the source by a broad contamination
N(0, 4 I) (each contaminated sample gets a uniformly random label); its closed form p
includes the contamination, so r and h* stay exact.

``gmm-overlap`` is a different geometry, in d >= 2 dimensions (``dim``, default 4), with
unit vectors e1, e2 and every other coordinate of every mean 0:
    p = 0.5 N(e1, 0.1 I) + 0.3 N(-e1, 0.2 I) + 0.2 N(e2, 0.1 I)          labels 0, 1, 1
    q = 0.7 N(e1 + 0.3 e2, 0.15 I) + 0.3 N(-e2, 0.05 I)                  labels 0, 1
The first target component overlaps the first source component (distance 0.3, standard
deviations about 0.35); the second lies far from all three source components (distances
sqrt(2), sqrt(2) and 2: 4.5, 3.2 and 6.3 of their standard deviations), so r = q/p is large
there.  Label rule: label 0 is the "near" mode in both domains (the first source and the
first target component), label 1 everything else (the other two source components, the
second target component), so the two labels are shared and label-conditional methods run:
q(x | 0) is a small shift of p(x | 0), q(x | 1) a jump away from p(x | 1).

Every GMM task also hands out a validation fold of the target, ``extras["val_x"]``,
``extras["val_y"]``: n_test samples of q from its own ``target_val`` stream (so it is disjoint
from the test fold and leaves every other array unchanged).  Only the protocol's ``oracle``
selection rule reads it.

Data: a target pool of ``n_pool`` samples (the ``target-oracle`` trains on all of it)
and a held-out target test set come from the ``data`` stream of (task, params, trial);
the n_target training samples are the nested subset of :class:`benchmark.design.Design`
(the first n_target of the trial's permutation of the pool), so every method sees
identical data and the n = 10 set is inside the n = 100 set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from benchmark.api import Task, TaskData
from benchmark.closed_form import GaussianMixture, TransferClosedForm
from benchmark.design import Design
from benchmark.registry import register_task

GMM_METRICS = ("mmd", "mmd_floor", "density_error", "sliced_wasserstein", "two_sample")


def _check(n_target: int, n_pool: int) -> None:
    if not 1 <= n_target <= n_pool:
        raise ValueError(f"n_target={n_target} must be between 1 and n_pool={n_pool}")


@dataclass(frozen=True)
class GMMParams:
    n_target: int = 100
    n_source: int = 10_000
    n_pool: int = 10_000
    n_test: int = 4_000
    n_eval: int = 2_000
    variance: float = 0.1

    def __post_init__(self) -> None:
        _check(self.n_target, self.n_pool)
        if min(self.n_source, self.n_test, self.n_eval) < 2 or self.variance <= 0:
            raise ValueError("n_source, n_test and n_eval must be >= 2 and variance > 0")


@dataclass(frozen=True)
class GMM2DParams(GMMParams):
    separation: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.separation >= 0:
            raise ValueError(f"separation={self.separation} must be >= 0")


@dataclass(frozen=True)
class GMMHighDimParams(GMMParams):
    dim: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim < 2 or self.dim % 2:
            raise ValueError(f"dim={self.dim} must be an even number >= 2")


@dataclass(frozen=True)
class GMMNoisyParams(GMMParams):
    noise_frac: float = 0.1
    noise_variance: float = 4.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.noise_frac < 1.0:
            raise ValueError(f"noise_frac={self.noise_frac} must be in [0, 1)")


@dataclass(frozen=True)
class GMMOverlapParams:
    n_target: int = 100
    n_source: int = 10_000
    n_pool: int = 10_000
    n_test: int = 4_000
    n_eval: int = 2_000
    dim: int = 4

    def __post_init__(self) -> None:
        _check(self.n_target, self.n_pool)
        if min(self.n_source, self.n_test, self.n_eval) < 2:
            raise ValueError("n_source, n_test and n_eval must be >= 2")
        if self.dim < 2:
            raise ValueError(f"dim={self.dim} must be >= 2")


def two_component(mu: torch.Tensor, variance: float) -> GaussianMixture:
    return GaussianMixture(
        means=torch.stack([mu, -mu]).double(),
        variances=torch.full((2,), variance, dtype=torch.float64),
        weights=torch.tensor([0.5, 0.5], dtype=torch.float64),
        labels=torch.tensor([0, 1]),
    )


def mixture(means: list[torch.Tensor], variances: list[float], weights: list[float],
            labels: list[int]) -> GaussianMixture:
    return GaussianMixture(
        means=torch.stack(means).double(),
        variances=torch.tensor(variances, dtype=torch.float64),
        weights=torch.tensor(weights, dtype=torch.float64),
        labels=torch.tensor(labels),
    )


def overlap_mixtures(dim: int) -> tuple[GaussianMixture, GaussianMixture]:
    """The source p and target q of ``gmm-overlap`` (module docstring) in ``dim`` dimensions."""
    e1, e2 = torch.eye(dim, dtype=torch.float64)[:2]
    p = mixture([e1, -e1, e2], [0.1, 0.2, 0.1], [0.5, 0.3, 0.2], [0, 1, 1])
    q = mixture([e1 + 0.3 * e2, -e2], [0.15, 0.05], [0.7, 0.3], [0, 1])
    return p, q


def contaminated(mix: GaussianMixture, frac: float, variance: float) -> GaussianMixture:
    """(1 - frac) mix + frac N(0, variance I), the contamination split evenly over labels 0/1."""
    if frac == 0.0:
        return mix
    d = mix.dim
    return GaussianMixture(
        means=torch.cat([mix.means, torch.zeros(2, d, dtype=torch.float64)]),
        variances=torch.cat([mix.variances, torch.full((2,), variance, dtype=torch.float64)]),
        weights=torch.cat([(1 - frac) * mix.weights, torch.full((2,), frac / 2, dtype=torch.float64)]),
        labels=torch.cat([mix.labels, torch.tensor([0, 1])]),
    )


class _GMMTask(Task):
    Params = GMMParams
    capabilities = frozenset({"labels", "closed_form"})
    metrics = GMM_METRICS
    default_n_targets = (10, 100, 1000)
    contract_params = {"n_source": 200, "n_pool": 100, "n_test": 100, "n_eval": 50}
    name = "gmm2d"

    def mixtures(self) -> tuple[GaussianMixture, GaussianMixture]:
        d = getattr(self.params, "dim", 2)
        scale = 0.5 * math.sqrt(2.0 / d)
        mu_s = torch.full((d,), scale, dtype=torch.float64)
        mu_t = scale * torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(d)], dtype=torch.float64)
        s = getattr(self.params, "separation", 1.0)
        mu_t = mu_s + s * (mu_t - mu_s)
        v = self.params.variance
        return two_component(mu_s, v), two_component(mu_t, v)

    def stream_params(self) -> dict:
        """The parameters the data streams are drawn under (all but n_target and n_eval)."""
        return {k: v for k, v in vars(self.params).items() if k not in ("n_target", "n_eval")}

    def key_params(self) -> dict:
        """The parameters the source key names (everything the data depend on)."""
        return self.stream_params()

    def build(self) -> TaskData:
        p, q = self.mixtures()
        prm = self.params
        design = Design(self.name, self.suite_seed, self.trial)
        fixed = self.stream_params()
        src_x, src_y = p.sample(prm.n_source, design.generator(fixed, self.trial, "source"))
        src_test_x, src_test_y = p.sample(prm.n_test, design.generator(fixed, self.trial, "source_test"))
        pool_x, pool_y = q.sample(prm.n_pool, design.generator(fixed, self.trial, "target_pool"))
        test_x, test_y = q.sample(prm.n_test, design.generator(fixed, self.trial, "target_test"))
        val_x, val_y = q.sample(prm.n_test, design.generator(fixed, self.trial, "target_val"))
        subset = design.subset(prm.n_pool, prm.n_target)
        source_key = design.source_key(params=self.key_params(), trial=self.trial)
        return TaskData(
            source_x=src_x, source_y=src_y, target_x=pool_x[subset], target_y=pool_y[subset],
            test_x=test_x, test_y=test_y, source_test_x=src_test_x, source_test_y=src_test_y,
            oracle_x=pool_x, oracle_y=pool_y, kind="vector", num_classes=2,
            source_key=source_key, target_key=design.target_key(source_key, prm.n_target),
            closed_form=TransferClosedForm(p, q), extras={"val_x": val_x, "val_y": val_y},
        )


@register_task("gmm2d", "2-D two-component Gaussian mixtures, source means ±(0.5,0.5), target ±(0.5,-0.5)")
class GMM2D(_GMMTask):
    Params = GMM2DParams
    name = "gmm2d"

    def stream_params(self) -> dict:
        """Without ``separation``: the streams of every s are those of s = 1 (module docstring)."""
        return {k: v for k, v in super().stream_params().items() if k != "separation"}

    def key_params(self) -> dict:
        """``separation`` enters the key only where it is not 1 (so s = 1 keeps today's keys)."""
        s = getattr(self.params, "separation", 1.0)
        return self.stream_params() if s == 1.0 else {**self.stream_params(), "separation": s}


@register_task("gmm-highdim", "the gmm2d construction in d dimensions (d in {2, 8, 32})")
class GMMHighDim(_GMMTask):
    Params = GMMHighDimParams
    name = "gmm-highdim"


@register_task("gmm-noisy-source", "gmm2d with a fraction of the source drawn from a broad N(0, 4I)")
class GMMNoisySource(_GMMTask):
    Params = GMMNoisyParams
    name = "gmm-noisy-source"

    def mixtures(self) -> tuple[GaussianMixture, GaussianMixture]:
        p, q = super().mixtures()
        return contaminated(p, self.params.noise_frac, self.params.noise_variance), q


@register_task("gmm-overlap", "4-D mixtures: 3 unequal source components, 2 shifted target ones (one overlapping, one far)")
class GMMOverlap(_GMMTask):
    Params = GMMOverlapParams
    name = "gmm-overlap"

    def mixtures(self) -> tuple[GaussianMixture, GaussianMixture]:
        return overlap_mixtures(self.params.dim)
