"""The VP schedule's identities and the Gaussian-mixture closed forms (scores, h*, ratios)."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.closed_form import TransferClosedForm
from benchmark.diffusion.samplers import lambda_grid
from benchmark.diffusion.schedule import VPSchedule
from conftest import gmm_task

S = VPSchedule()
T = torch.linspace(S.t_min, 1.0, 201, dtype=torch.float64)


def test_alpha_sigma_identities() -> None:
    a, s = S.alpha(T), S.sigma(T)
    assert torch.allclose(a.pow(2) + s.pow(2), torch.ones_like(T), atol=1e-14)
    expected_log_alpha = -0.5 * (0.1 * T + 0.5 * (20.0 - 0.1) * T.pow(2))
    assert torch.allclose(torch.log(a), expected_log_alpha, atol=1e-14)
    assert float(S.alpha(torch.tensor(0.0, dtype=torch.float64))) == 1.0
    assert float(S.sigma(torch.tensor(0.0, dtype=torch.float64))) == 0.0
    assert (a[1:] < a[:-1]).all() and (s[1:] > s[:-1]).all()
    assert math.isclose(float(S.alpha(torch.tensor(1.0, dtype=torch.float64))), math.exp(-5.025), rel_tol=1e-12)


def test_beta_is_minus_twice_the_derivative_of_log_alpha() -> None:
    t = T.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(S.log_alpha(t).sum(), t)
    assert torch.allclose(-2.0 * grad, S.beta(T), atol=1e-12)
    assert torch.allclose(S.beta(torch.tensor([0.0, 1.0], dtype=torch.float64)),
                          torch.tensor([0.1, 20.0], dtype=torch.float64))


def test_lambda_and_its_inverse() -> None:
    lam = S.lam(T)
    assert torch.allclose(lam, torch.log(S.alpha(T) / S.sigma(T)), atol=1e-12)
    assert (lam[1:] < lam[:-1]).all()
    assert torch.allclose(S.inverse_lam(lam), T, atol=1e-12, rtol=0)
    grid = torch.linspace(-6.0, 6.0, 97, dtype=torch.float64)
    assert torch.allclose(S.lam(S.inverse_lam(grid)), grid, atol=1e-10)


def test_lambda_grid_is_uniform_in_lambda() -> None:
    ts = torch.tensor(lambda_grid(S, 25), dtype=torch.float64)
    assert len(ts) == 26 and ts[0] == 1.0 and ts[-1] == S.t_min
    steps = S.lam(ts).diff()
    assert torch.allclose(steps, steps.mean().expand_as(steps), atol=1e-10) and (steps > 0).all()


def test_noise_broadcasts_over_any_shape() -> None:
    x0 = torch.randn(3, 4, 5, dtype=torch.float64)
    eps = torch.randn_like(x0)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    xt = S.noise(x0, t, eps)
    for i in range(3):
        assert torch.allclose(xt[i], S.alpha(t[i]) * x0[i] + S.sigma(t[i]) * eps[i])


# ----------------------------------------------------------------------------- closed forms


@pytest.fixture(scope="module")
def closed(gmm) -> TransferClosedForm:
    p, q = gmm_task(gmm, n_target=10).mixtures()
    return TransferClosedForm(p, q)


def autograd_grad(f, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    return g


def test_gmm2d_has_the_papers_parameters(closed: TransferClosedForm) -> None:
    p, q = closed.source, closed.target
    assert torch.allclose(p.means, torch.tensor([[0.5, 0.5], [-0.5, -0.5]], dtype=torch.float64))
    assert torch.allclose(q.means, torch.tensor([[0.5, -0.5], [-0.5, 0.5]], dtype=torch.float64))
    assert torch.allclose(p.variances, torch.full((2,), 0.1, dtype=torch.float64))
    assert torch.equal(p.labels, torch.tensor([0, 1])) and torch.allclose(p.weights.sum(), torch.tensor(1.0).double())


@pytest.mark.parametrize("t", [None, 0.002, 0.1, 0.5, 1.0])
def test_scores_are_gradients_of_log_densities(closed: TransferClosedForm, t: float | None) -> None:
    gen = torch.Generator().manual_seed(0)
    x = 1.5 * torch.randn(64, 2, generator=gen, dtype=torch.float64)
    y = torch.randint(2, (64,), generator=gen)
    tt = None if t is None else torch.full((64,), t, dtype=torch.float64)
    for mix in (closed.source, closed.target):
        assert torch.allclose(mix.score(x, tt), autograd_grad(lambda z: mix.log_prob(z, tt), x), atol=1e-9)
        assert torch.allclose(mix.score(x, tt, y=y), autograd_grad(lambda z: mix.log_joint(z, y, tt), x), atol=1e-9)
    if tt is not None:
        assert torch.allclose(closed.grad_log_h_star(x, tt), autograd_grad(lambda z: closed.log_h_star(z, tt), x),
                              atol=1e-9)
        assert torch.allclose(closed.grad_log_h_star(x, tt, y),
                              autograd_grad(lambda z: closed.log_h_star(z, tt, y), x), atol=1e-9)
        sigma = S.sigma(tt)[:, None]
        assert torch.allclose(closed.source.eps(x, tt), -sigma * closed.source.score(x, tt), atol=1e-12)


def test_noised_marginal_matches_monte_carlo(closed: TransferClosedForm) -> None:
    """p_t = sum_c w_c N(alpha_t mu_c, (alpha_t^2 v_c + sigma_t^2) I) is the law of
    x_t = alpha_t x_0 + sigma_t eps: by Gibbs' inequality E[log p_t(x_t)] beats the density at
    any other time, and the second moment matches."""
    gen = torch.Generator().manual_seed(1)
    p = closed.source
    t = torch.full((20000,), 0.3, dtype=torch.float64)
    x0, _ = p.sample(20000, gen)
    xt = S.noise(x0.double(), t, torch.randn(20000, 2, generator=gen, dtype=torch.float64))
    mean_log = p.log_prob(xt, t).mean()
    # the cross-entropy of p_t with itself exceeds that of any other density, e.g. p_t at another time
    assert mean_log > p.log_prob(xt, torch.full_like(t, 0.2)).mean()
    assert mean_log > p.log_prob(xt, torch.full_like(t, 0.4)).mean()
    # second moments: E|x_t|^2 = alpha^2 (|mu|^2 + d v) + d sigma^2
    a, s = S.alpha(t[0]), S.sigma(t[0])
    expected = a**2 * (0.5 + 2 * 0.1) + 2 * s**2
    assert abs(float(xt.pow(2).sum(1).mean() - expected)) < 0.03


def test_ratio_and_h_star_limits(closed: TransferClosedForm) -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    r = closed.log_ratio(x)
    assert torch.allclose(r, closed.target.log_prob(x) - closed.source.log_prob(x))
    # h*(x, t) -> r(x) as t -> 0 and -> 1 as t -> 1 (both marginals become N(0, I))
    assert torch.allclose(closed.log_h_star(x, torch.zeros(32, dtype=torch.float64)), r, atol=1e-9)
    assert closed.log_h_star(x, torch.ones(32, dtype=torch.float64)).abs().max() < 1e-3
