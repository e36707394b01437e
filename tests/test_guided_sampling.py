"""Samplers and the guidance convention against the closed forms of gmm2d.

Tolerance ("within the spread of mmd_floor"): the MMD^2 of N = 1000 samples to a fixed
reference of N exact samples, with the ``mmd`` metric's kernel (bandwidths b_med * MIX, b_med
from the reference), must be at most mean + 4 std of five floor draws (fresh exact samples vs
the same reference).  That is about 2e-3, against MMD^2(p, q) ~ 0.11.  "Far" means more than
10x that tolerance.  Every draw is seeded, so the outcome is fixed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import pytest
import torch

from benchmark.closed_form import GaussianMixture, TransferClosedForm
from benchmark.diffusion.guidance import grad_log_of, guided_eps
from benchmark.diffusion.samplers import sample
from benchmark.diffusion.schedule import VPSchedule
from benchmark.metrics.context import EvalContext
from benchmark.metrics.kernels import MIX, median_bandwidth, mmd2_unbiased
from benchmark.metrics.sample_metrics import density_error, mmd, mmd_floor
from conftest import gmm_task

N = 1000
S = VPSchedule()


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class Reference:
    """Exact samples of one mixture, the metric's bandwidths, and the floor tolerance."""

    mix: GaussianMixture
    x: torch.Tensor
    bandwidths: list[float]
    tol: float

    def mmd(self, samples: torch.Tensor) -> float:
        return mmd2_unbiased(samples, self.x, self.bandwidths)


def reference(mix: GaussianMixture, seed: int) -> Reference:
    x, _ = mix.sample(N, gen(seed))
    med = median_bandwidth(x)
    bw = [med * f for f in MIX]
    floors = [mmd2_unbiased(mix.sample(N, gen(seed + 100 + i))[0], x, bw) for i in range(5)]
    return Reference(mix, x, bw, statistics.mean(floors) + 4 * statistics.stdev(floors))


@pytest.fixture(scope="module")
def closed(gmm) -> TransferClosedForm:
    p, q = gmm_task(gmm, n_target=10).mixtures()
    return TransferClosedForm(p, q)


@pytest.fixture(scope="module")
def refs(closed: TransferClosedForm) -> tuple[Reference, Reference]:
    return reference(closed.source, 1), reference(closed.target, 2)


def source_eps(closed: TransferClosedForm):
    return lambda x, t, labels: closed.source.eps(x, t, S, labels)


def test_metric_separates_p_and_q(refs) -> None:
    p_ref, q_ref = refs
    assert 0 < p_ref.tol < 4e-3 and 0 < q_ref.tol < 4e-3
    assert q_ref.mmd(p_ref.x) > 30 * q_ref.tol


@pytest.mark.parametrize("sampler,steps", [("dpm2", 25), ("dpm1", 100), ("euler", 500)])
def test_exact_source_score_reproduces_p(closed, refs, sampler: str, steps: int) -> None:
    p_ref, q_ref = refs
    x = sample(source_eps(closed), (2,), N, gen(3), sampler=sampler, steps=steps)
    assert x.shape == (N, 2) and torch.isfinite(x).all()
    assert p_ref.mmd(x) <= p_ref.tol, (p_ref.mmd(x), p_ref.tol)
    assert q_ref.mmd(x) > 10 * q_ref.tol


@pytest.mark.parametrize("sampler,steps", [("dpm2", 25), ("euler", 500)])
def test_exact_source_score_plus_exact_h_star_reproduces_q(closed, refs, sampler: str, steps: int) -> None:
    """eps_guided = eps_p - sigma_t grad log h*  (gamma = 1) samples q."""
    p_ref, q_ref = refs
    x = sample(source_eps(closed), (2,), N, gen(4), sampler=sampler, steps=steps, grad_log_h=closed.grad_log_h_star)
    assert q_ref.mmd(x) <= q_ref.tol, (q_ref.mmd(x), q_ref.tol)
    assert p_ref.mmd(x) > 0.5 * p_ref.mmd(q_ref.x)


def test_h_star_through_autograd_of_log_h_matches(closed, refs) -> None:
    """The same through grad_log_of(log h*), the path a learned log-h network takes."""
    _, q_ref = refs
    grad = grad_log_of(lambda x, t, y: closed.log_h_star(x, t, y))
    x = sample(source_eps(closed), (2,), N, gen(4), grad_log_h=grad)
    exact = sample(source_eps(closed), (2,), N, gen(4), grad_log_h=closed.grad_log_h_star)
    assert torch.allclose(x, exact, atol=1e-4)
    assert q_ref.mmd(x) <= q_ref.tol


def _without_sigma(closed: TransferClosedForm):
    """The published ECG code's variant: eps + grad log h with no sigma_t (undone here)."""
    return lambda x, t, y: closed.grad_log_h_star(x, t, y) / S.sigma(t).view(-1, 1)


def _sigma_twice(closed: TransferClosedForm):
    return lambda x, t, y: closed.grad_log_h_star(x, t, y) * S.sigma(t).view(-1, 1)


@pytest.mark.parametrize("variant", ["gamma=-1", "no sigma_t", "sigma_t twice", "gamma=0"])
def test_wrong_sign_or_scaling_does_not_give_q(closed, refs, variant: str) -> None:
    _, q_ref = refs
    grad, gamma = {"gamma=-1": (closed.grad_log_h_star, -1.0), "no sigma_t": (_without_sigma(closed), 1.0),
                   "sigma_t twice": (_sigma_twice(closed), 1.0), "gamma=0": (closed.grad_log_h_star, 0.0)}[variant]
    x = sample(source_eps(closed), (2,), N, gen(4), grad_log_h=grad, gamma=gamma)
    assert q_ref.mmd(x) > 10 * q_ref.tol, (variant, q_ref.mmd(x))


def test_conditional_score_and_conditional_h_star_give_the_target_component(closed) -> None:
    """Labels y (the mixture component) with eps_p(x_t | y) and grad log h*(x_t, y, t): the
    samples of label y follow q(x | y) = N(mu_T(y), 0.1 I), not p(x | y) = N(mu_S(y), 0.1 I)."""
    labels = torch.arange(2 * N) % 2
    x = sample(source_eps(closed), (2,), 2 * N, gen(5), labels=labels, grad_log_h=closed.grad_log_h_star)
    plain = sample(source_eps(closed), (2,), 2 * N, gen(5), labels=labels)
    p, q = closed.source, closed.target
    for y in (0, 1):
        xs, ps = x[labels == y].double(), plain[labels == y].double()
        mu_t, mu_s = q.means[q.labels == y][0], p.means[p.labels == y][0]
        assert (xs.mean(0) - mu_t).norm() < 0.05, (y, xs.mean(0))
        assert torch.allclose(xs.var(0), torch.full((2,), 0.1, dtype=torch.float64), rtol=0.15)
        assert (ps.mean(0) - mu_s).norm() < 0.05  # without guidance: the source component
        component = GaussianMixture(mu_t[None], q.variances[:1], torch.ones(1, dtype=torch.float64), torch.tensor([y]))
        comp = reference(component, 10 + y)
        assert comp.mmd(xs.float()) <= comp.tol and comp.mmd(ps.float()) > 10 * comp.tol


def test_dpm_solver_2_beats_dpm_solver_1() -> None:
    """Both ODE solvers from the same noise, against a 400-step DPM-Solver-2 reference on p's
    exact score: at equal steps order 2 is more accurate, and its error falls ~4x per halving
    of the step size (order 2), DPM-Solver-1's ~2x (order 1)."""
    p = GaussianMixture(torch.tensor([[0.5, 0.5], [-0.5, -0.5]], dtype=torch.float64),
                        torch.full((2,), 0.1, dtype=torch.float64), torch.full((2,), 0.5, dtype=torch.float64),
                        torch.tensor([0, 1]))
    eps = lambda x, t, y: p.eps(x, t, S)
    ref = sample(eps, (2,), 500, gen(7), sampler="dpm2", steps=400)
    err = {(s, k): float((sample(eps, (2,), 500, gen(7), sampler=s, steps=k) - ref).norm(dim=1).mean())
           for s in ("dpm1", "dpm2") for k in (10, 20)}
    for k in (10, 20):
        assert err["dpm2", k] < 0.5 * err["dpm1", k], err
    order2 = torch.log2(torch.tensor(err["dpm2", 10] / err["dpm2", 20]))
    order1 = torch.log2(torch.tensor(err["dpm1", 10] / err["dpm1", 20]))
    assert 1.6 < order2 < 3.0 and 0.7 < order1 < 1.4, err


def test_lagged_guidance_reproduces_q_and_keeps_second_order(closed, refs) -> None:
    """One grad log h* per DPM-Solver-2 step (extrapolated to the step's start): the samples
    are q's within the floor at 25 steps, the error against a 400-step exact-guidance solution
    from the same noise falls ~4x per halving of the step (order 2, not 1), and at 40 steps it
    is within 2x of the exact-guidance solver's; guidance is evaluated steps + 1 times."""
    p_ref, q_ref = refs
    calls = []

    def counted(x, t, y):
        calls.append(len(x))
        return closed.grad_log_h_star(x, t, y)

    x = sample(source_eps(closed), (2,), N, gen(4), steps=25, grad_log_h=counted, lagged_guidance=True)
    assert len(calls) == 26
    assert q_ref.mmd(x) <= q_ref.tol, (q_ref.mmd(x), q_ref.tol)

    def solve(steps: int, lagged: bool) -> torch.Tensor:
        return sample(source_eps(closed), (2,), 500, gen(7), steps=steps, grad_log_h=closed.grad_log_h_star,
                      lagged_guidance=lagged)

    ref = solve(400, False)
    err = {(lag, k): float((solve(k, lag) - ref).norm(dim=1).mean()) for lag in (False, True) for k in (20, 40)}
    order = torch.log2(torch.tensor(err[True, 20] / err[True, 40]))
    assert 1.6 < order < 3.0, err
    assert err[True, 40] < 2 * err[False, 40], err


def test_lagged_guidance_changes_nothing_unguided_and_needs_dpm2(closed) -> None:
    plain = sample(source_eps(closed), (2,), 50, gen(8), steps=5)
    assert torch.equal(plain, sample(source_eps(closed), (2,), 50, gen(8), steps=5, lagged_guidance=True))
    with pytest.raises(ValueError, match="dpm2"):
        sample(source_eps(closed), (2,), 5, gen(0), sampler="dpm1", lagged_guidance=True)
    from benchmark.tgdp.stages import TGDPParams

    with pytest.raises(ValueError, match="sampler='dpm2'"):
        TGDPParams(sampler="euler", lagged_guidance=True)


def test_guided_eps_formula_and_shapes() -> None:
    eps = torch.randn(4, 3, 5)
    grad = torch.randn(4, 3, 5)
    sigma = torch.tensor([0.1, 0.5, 0.9, 1.0])
    out = guided_eps(eps, grad, sigma, gamma=2.0)
    for i in range(4):
        assert torch.allclose(out[i], eps[i] - 2.0 * sigma[i] * grad[i])
    assert torch.equal(guided_eps(eps, grad, sigma, gamma=0.0), eps)


def test_sampler_is_seeded_and_rejects_unknown_names(closed) -> None:
    a = sample(source_eps(closed), (2,), 50, gen(8), sampler="euler", steps=20)
    b = sample(source_eps(closed), (2,), 50, gen(8), sampler="euler", steps=20)
    c = sample(source_eps(closed), (2,), 50, gen(9), sampler="euler", steps=20)
    assert torch.equal(a, b) and not torch.equal(a, c)
    batched = sample(source_eps(closed), (2,), 50, gen(8), sampler="dpm2", steps=5, batch_size=7)
    assert batched.shape == (50, 2)
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(source_eps(closed), (2,), 5, gen(0), sampler="heun")


# ----------------------------------------------------------------------------- metrics


def test_mmd2_unbiased_matches_the_explicit_sums() -> None:
    x = torch.randn(7, 2, generator=gen(11), dtype=torch.float64)
    y = torch.randn(5, 2, generator=gen(12), dtype=torch.float64) + 0.3
    bws = [0.5, 1.0, 2.0]

    def k(a, b):
        return sum(torch.exp(-(a - b).pow(2).sum() / (2 * w * w)) for w in bws) / len(bws)

    sxx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    syy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    sxy = sum(k(x[i], y[j]) for i in range(7) for j in range(5)) / (7 * 5)
    # the kernel values are evaluated in float32 (relative error ~1e-7) and summed in float64
    assert abs(mmd2_unbiased(x, y, bws) - float(sxx + syy - 2 * sxy)) < 1e-6
    assert abs(mmd2_unbiased(x, y, bws) - mmd2_unbiased(y, x, bws)) < 1e-6


@pytest.fixture(scope="module")
def task_data(gmm):
    """gmm2d data with a 1000-sample held-out target set (halves of 500)."""
    return gmm_task(gmm, n_target=10, n_source=200, n_pool=200, n_test=1000).build()


def _ctx(data, samples: torch.Tensor) -> EvalContext:
    return EvalContext(data=data, samples=samples, labels=None, seed=0, device=torch.device("cpu"))


def test_density_error_is_near_zero_for_target_samples(task_data, closed) -> None:
    true = _ctx(task_data, closed.target.sample(500, gen(13))[0])
    wrong = _ctx(task_data, closed.source.sample(500, gen(13))[0])
    good, bad = density_error(true), density_error(wrong)
    assert good["density_error"] < 0.08 and good["logq_gap"] < 0.15, good
    assert bad["density_error"] > 0.5 and bad["logq_gap"] > 2.0, bad
    assert mmd(true)["mmd"] < 5 * abs(mmd_floor(true)["mmd_floor"]) + 2e-3 < mmd(wrong)["mmd"]
