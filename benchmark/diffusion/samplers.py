"""Samplers for the VP-SDE: DPM-Solver-2 (default, 25 steps), DPM-Solver-1 (= DDIM) and
Euler-Maruyama on the reverse SDE.

Every sampler reads the model through ``eps_fn(x_t, t, labels) -> eps`` and, when a
guidance function ``grad_log_h`` is given, replaces it by
:func:`benchmark.diffusion.guidance.guided_eps` (eps - gamma sigma_t grad log h).

DPM-Solver steps (Lu et al. 2022) from s to t with h = lambda_t - lambda_s:
    order 1:  x_t = (alpha_t/alpha_s) x_s - sigma_t (e^h - 1) eps(x_s, s)
    order 2:  s1 = t(lambda_s + h/2),
              u  = (alpha_s1/alpha_s) x_s - sigma_s1 (e^{h/2} - 1) eps(x_s, s)
              x_t = (alpha_t/alpha_s) x_s - sigma_t (e^h - 1) eps(u, s1)
The time grid is uniform in lambda from t = 1 to t = t_min.

Lagged guidance (``lagged_guidance=True``, DPM-Solver-2 only; ours, not the paper's): the
update of x_t reads eps only at the midpoint (u, s1); eps(x_s, s) only places u.  So grad log h
is evaluated once per step, at (u, s1), and the first stage of the next step predicts it from
the last two midpoints (lambda_0, g_0), (lambda_1, g_1) by linear extrapolation in lambda:
    eps(x_s, s) ~ eps_theta(x_s, s) - gamma sigma_s g~,  g~ = g_1 + (lambda_s - lambda_1)/(lambda_1 - lambda_0) (g_1 - g_0)
(the exact grad log h on the first step, g_1 itself on the second).  Even g_1 alone (error O(h))
moves u by sigma_s1 (e^{h/2} - 1) gamma sigma_s O(h) = O(h^2) and x_t by O(h^3), so the solver
stays second order; the extrapolation (error O(h^2)) shrinks the constant: with the closed-form
gmm2d scores, the mean distance to an 800-step solution at 25 steps is 6.0e-3 exact, 9.4e-3
extrapolated, 2.0e-2 with g_1 alone (``tests/test_guided_sampling.py`` checks the order).
Guidance costs steps + 1 evaluations instead of 2 * steps.
Euler-Maruyama: x <- x + (beta/2 x + beta s) dt + sqrt(beta dt) z, s = -eps/sigma,
on a uniform time grid, without noise on the last step.
Noise is drawn from a CPU ``torch.Generator`` so CPU and GPU runs draw the same noise.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from benchmark.diffusion.guidance import GradLogH, guided_eps
from benchmark.diffusion.schedule import VPSchedule

EpsFn = Callable[[torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]
SAMPLERS = ("dpm2", "dpm1", "euler")


def _eps(eps_fn: EpsFn, sched: VPSchedule, x: torch.Tensor, t: float, labels, grad_log_h: GradLogH | None,
         gamma: float, grad: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(guided eps at (x, t), the grad log h it used): ``grad`` when given (lagged guidance), else
    grad_log_h(x, t); (eps_theta, None) when unguided."""
    tt = torch.full((x.shape[0],), float(t), device=x.device, dtype=x.dtype)
    eps = eps_fn(x, tt, labels)
    if grad_log_h is None or gamma == 0.0:
        return eps, None
    if grad is None:
        grad = grad_log_h(x, tt, labels)
    return guided_eps(eps, grad, sched.sigma(tt), gamma), grad


def _scalar(f, t: float) -> float:
    return float(f(torch.tensor(t, dtype=torch.float64)))


def lambda_grid(sched: VPSchedule, steps: int) -> list[float]:
    lam_hi = _scalar(sched.lam, 1.0)
    lam_lo = _scalar(sched.lam, sched.t_min)
    lams = torch.linspace(lam_hi, lam_lo, steps + 1, dtype=torch.float64)
    ts = sched.inverse_lam(lams)
    ts[0], ts[-1] = 1.0, sched.t_min
    return [float(v) for v in ts]


def _extrapolate(midpoints: list[tuple[float, torch.Tensor]], lam: float) -> torch.Tensor:
    """grad log h at lambda from the last one or two (lambda_i, g_i), linear in lambda."""
    if len(midpoints) == 1:
        return midpoints[0][1]
    (l0, g0), (l1, g1) = midpoints
    return g1 + ((lam - l1) / (l1 - l0)) * (g1 - g0)


@torch.no_grad()
def _dpm(eps_fn, sched, x, steps, labels, grad_log_h, gamma, order: int, lagged_guidance: bool = False) -> torch.Tensor:
    ts = lambda_grid(sched, steps)
    g_prev = None  # lagged guidance: the predicted grad log h at the next step's start
    midpoints: list[tuple[float, torch.Tensor]] = []  # lagged guidance: the last two (lambda_s1, grad log h(u, s1))
    for s, t in zip(ts[:-1], ts[1:]):
        lam_s, lam_t = _scalar(sched.lam, s), _scalar(sched.lam, t)
        h = lam_t - lam_s
        a_s, a_t, sig_t = _scalar(sched.alpha, s), _scalar(sched.alpha, t), _scalar(sched.sigma, t)
        eps_s, _ = _eps(eps_fn, sched, x, s, labels, grad_log_h, gamma, grad=g_prev)
        if order == 1:
            x = (a_t / a_s) * x - sig_t * torch.expm1(torch.tensor(h)).item() * eps_s
            continue
        s1 = float(sched.inverse_lam(torch.tensor(lam_s + 0.5 * h, dtype=torch.float64)))
        a_s1, sig_s1 = _scalar(sched.alpha, s1), _scalar(sched.sigma, s1)
        u = (a_s1 / a_s) * x - sig_s1 * torch.expm1(torch.tensor(0.5 * h)).item() * eps_s
        eps_s1, g1 = _eps(eps_fn, sched, u, s1, labels, grad_log_h, gamma)
        if lagged_guidance and g1 is not None:
            midpoints = [*midpoints[-1:], (lam_s + 0.5 * h, g1)]
            g_prev = _extrapolate(midpoints, lam_t)
        x = (a_t / a_s) * x - sig_t * torch.expm1(torch.tensor(h)).item() * eps_s1
    return x


@torch.no_grad()
def _euler(eps_fn, sched, x, steps, labels, grad_log_h, gamma, generator) -> torch.Tensor:
    ts = torch.linspace(1.0, sched.t_min, steps + 1, dtype=torch.float64).tolist()
    for i, (s, t) in enumerate(zip(ts[:-1], ts[1:])):
        dt = s - t
        beta = _scalar(sched.beta, s)
        score = -_eps(eps_fn, sched, x, s, labels, grad_log_h, gamma)[0] / _scalar(sched.sigma, s)
        x = x + (0.5 * beta * x + beta * score) * dt
        if i < steps - 1:
            z = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
            x = x + (beta * dt) ** 0.5 * z
    return x


def sample(
    eps_fn: EpsFn,
    shape: tuple[int, ...],
    n: int,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    sampler: str = "dpm2",
    steps: int = 25,
    labels: Optional[torch.Tensor] = None,
    grad_log_h: GradLogH | None = None,
    gamma: float = 1.0,
    schedule: VPSchedule | None = None,
    batch_size: int = 10_000,
    lagged_guidance: bool = False,
) -> torch.Tensor:
    """Draw ``n`` samples of ``shape`` -> tensor (n, *shape) on ``device``.

    Args:
        eps_fn: noise prediction eps(x_t: (B, *shape), t: (B,), labels: (B,) | None).
        labels: per-sample labels (n,) for conditional models, else None.
        grad_log_h: optional guidance grad_x log h(x_t, t, labels); see guided_eps.
        gamma: guidance scale.
        lagged_guidance: DPM-Solver-2 only: one grad log h per step (see the module docstring).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if lagged_guidance and sampler != "dpm2":
        raise ValueError(f"lagged_guidance is defined for the dpm2 sampler only, not {sampler!r}")
    sched = schedule or VPSchedule()
    out = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        x = torch.randn((b, *shape), generator=generator).to(device)
        lab = None if labels is None else labels[start:start + b].to(device)
        if sampler == "euler":
            x = _euler(eps_fn, sched, x, steps, lab, grad_log_h, gamma, generator)
        else:
            x = _dpm(eps_fn, sched, x, steps, lab, grad_log_h, gamma, order=2 if sampler == "dpm2" else 1,
                     lagged_guidance=lagged_guidance)
        out.append(x)
    return torch.cat(out)
