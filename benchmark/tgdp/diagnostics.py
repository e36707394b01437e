"""Diagnostics recorded by every TGDP-family run.

- ``ratio_ess`` = (sum_i r̂_i)^2 / sum_i r̂_i^2 and ``ratio_mean`` = mean_i r̂_i over the m
  source training samples x_i ~ p (the weights the guidance estimators see).  E_p[r] = 1,
  so a mean far from 1 means a biased ratio; a small ESS means a few samples carry the
  whole regression target (a warning is logged when ESS < 100 or the mean leaves [0.5, 2]).
- ``ratio_error`` = mean over held-out source and target samples of (log r̂ - log r)^2,
  where r = q/p is known (closed-form tasks).
- ``classifier_accuracy``: accuracy of c > 1/2 <=> source on a balanced held-out set
  (equal numbers of held-out source and target samples); ``classifier_ece``: expected
  calibration error of P(source | x) on that set (15 equal-width bins).
- Gradient diagnostics (closed-form tasks), at each t in GRAD_TIMES with x_t ~ q_t (held-out
  target samples noised at t), ĝ = grad log ĥ(x_t, t), g* = grad log h*(x_t, t):
    ``grad_cos_t{t}``        = E<ĝ, g*> / sqrt(E|ĝ|^2 E|g*|^2)   (1 = right direction)
    ``grad_norm_ratio_t{t}`` = sqrt(E|ĝ|^2 / E|g*|^2)             (1 = right size)
    ``grad_mse_t{t}``        = sigma_t^2 E|ĝ - g*|^2               (the guidance's error in
                               noise-prediction units: what it adds to eps's error)
  These replace ``guidance_error`` (the mean of (log ĥ - log h*)^2), which penalised a
  constant offset the sampler ignores and never looked at grad log ĥ.
- ``memorisation`` = mean_i min_j |x_i - a_j| / mean_i min_j |x_i - b_j| over generated
  samples x_i, the n training targets a_j and n held-out targets b_j (the denominator
  averaged over up to 20 disjoint held-out sets): about 1 when the model generalises, well
  below 1 when samples collapse onto the training targets.  Recorded for every n; it is
  informative at small n.
Held-out data are used for these diagnostics only, never for training or selection.
"""

from __future__ import annotations

import logging
import math
from typing import Callable, Optional

import torch

from benchmark.diffusion.schedule import VPSchedule
from benchmark.seeding import torch_generator


def balanced_heldout(src: torch.Tensor, tgt: torch.Tensor, src_y=None, tgt_y=None, n_max: int = 2000):
    k = min(len(src), len(tgt), n_max)
    x = torch.cat([src[:k], tgt[:k]])
    y = None if src_y is None or tgt_y is None else torch.cat([src_y[:k], tgt_y[:k]])
    is_source = torch.cat([torch.ones(k), torch.zeros(k)])
    return x, y, is_source


def expected_calibration_error(prob: torch.Tensor, label: torch.Tensor, bins: int = 15) -> float:
    """ECE = sum_b |B_b|/N * |mean(label in b) - mean(prob in b)| over equal-width bins."""
    edges = torch.linspace(0, 1, bins + 1)
    idx = torch.clamp(torch.bucketize(prob, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            ece += float(mask.float().mean() * (label[mask].mean() - prob[mask].mean()).abs())
    return ece


@torch.no_grad()
def classifier_diagnostics(prob_source: Callable, log_ratio: Callable, x: torch.Tensor, y, is_source: torch.Tensor,
                           exact_log_ratio: Optional[Callable] = None) -> dict[str, float]:
    p = prob_source(x, y).cpu().double()
    out = {
        "classifier_accuracy": float(((p > 0.5).double() == is_source.double()).double().mean()),
        "classifier_ece": expected_calibration_error(p, is_source.double()),
    }
    if exact_log_ratio is not None:
        out["ratio_error"] = float((log_ratio(x, y).cpu().double() - exact_log_ratio(x, y).double()).pow(2).mean())
    return out


GRAD_TIMES: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5)
ESS_WARN, MEAN_RANGE = 100.0, (0.5, 2.0)


def ratio_weight_diagnostics(log_r: torch.Tensor, log: Optional[logging.Logger] = None) -> dict[str, float]:
    """``ratio_ess`` and ``ratio_mean`` of r̂ = exp(log_r) over source samples (m,); warns on ``log``."""
    lr = log_r.double().flatten()
    ess = float(torch.exp(2 * torch.logsumexp(lr, 0) - torch.logsumexp(2 * lr, 0)))
    mean = float(torch.exp(torch.logsumexp(lr, 0) - math.log(len(lr))))
    if log is not None and (ess < ESS_WARN or not MEAN_RANGE[0] <= mean <= MEAN_RANGE[1]):
        log.warning("density-ratio weights are degenerate: ESS %.1f of %d source samples (warn below %g), "
                    "mean r̂ %.3g (should be about 1; warn outside [%g, %g])", ess, len(lr), ESS_WARN, mean,
                    *MEAN_RANGE)
    return {"ratio_ess": ess, "ratio_mean": mean}


def grad_keys(t: float) -> tuple[str, str, str]:
    return f"grad_cos_t{t:g}", f"grad_norm_ratio_t{t:g}", f"grad_mse_t{t:g}"


def gradient_diagnostics(grad_log_h: Callable, grad_log_h_star: Callable, x0: torch.Tensor, y: Optional[torch.Tensor],
                         seed: int, device, times: tuple[float, ...] = GRAD_TIMES) -> dict[str, float]:
    """Cosine, norm ratio and sigma_t^2-weighted MSE of grad log ĥ against grad log h* at each
    t in ``times``, over x_t = alpha_t x0 + sigma_t eps with x0: (N, d) held-out target samples.

    ``grad_log_h(x_t, t, y) -> (N, d)`` (float32, on ``device``); ``grad_log_h_star`` takes
    float64 CPU tensors."""
    sched = VPSchedule()
    gen = torch_generator(seed)
    out: dict[str, float] = {}
    for t in times:
        tt = torch.full((len(x0),), float(t), dtype=torch.float64)
        xt = sched.noise(x0.double(), tt, torch.randn(x0.shape, generator=gen, dtype=torch.float64))
        est = grad_log_h(xt.float().to(device), tt.float().to(device),
                         None if y is None else y.to(device)).detach().cpu().double().flatten(1)
        exact = grad_log_h_star(xt, tt, y).double().flatten(1)
        e2, s2 = est.pow(2).sum(1).mean(), exact.pow(2).sum(1).mean()
        k_cos, k_norm, k_mse = grad_keys(t)
        out[k_cos] = float((est * exact).sum(1).mean() / torch.sqrt(e2 * s2).clamp_min(1e-300))
        out[k_norm] = float(torch.sqrt(e2 / s2.clamp_min(1e-300)))
        out[k_mse] = float(sched.sigma(tt[:1]).pow(2) * (est - exact).pow(2).sum(1).mean())
    return out


def memorisation_score(samples: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor, max_sets: int = 20) -> float:
    """mean nearest distance of ``samples`` (N, ...) to ``train`` (n, ...) over the same to n
    held-out points, the denominator averaged over up to ``max_sets`` disjoint held-out sets of
    size n taken from ``heldout`` (one set of 10 points is too noisy a yardstick at n = 10)."""
    x = samples.double().flatten(1)
    n = len(train)
    k = max(1, min(max_sets, len(heldout) // n))
    num = torch.cdist(x, train.double().flatten(1)).min(1).values.mean()
    den = torch.stack([torch.cdist(x, heldout[i * n:(i + 1) * n].double().flatten(1)).min(1).values.mean()
                       for i in range(k)]).mean()
    return float(num / den.clamp_min(1e-300))
