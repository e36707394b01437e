"""Diagnostics recorded by every TGDP run.

- ``ratio_error`` = mean over held-out source and target samples of (log r̂ - log r)^2,
  where r = q/p is known (closed-form tasks).
- ``classifier_accuracy``: accuracy of c > 1/2 <=> source on a balanced held-out set
  (equal numbers of held-out source and target samples); ``classifier_ece``: expected
  calibration error of P(source | x) on that set (15 equal-width bins).
- ``guidance_error`` = mean over t ~ U[t_min, 1] and noised held-out source and target
  samples of (log h_psi(x_t, t) - log h*(x_t, t))^2, where h* is known.
Held-out data are used for these diagnostics only, never for training or selection.
"""

from __future__ import annotations

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


@torch.no_grad()
def guidance_error(log_h: Callable, log_h_star: Callable, x0: torch.Tensor, y, seed: int, device) -> float:
    """Mean (log h_psi - log h*)^2 over t ~ U[t_min, 1] and x_t from the held-out x0."""
    sched = VPSchedule()
    gen = torch_generator(seed)
    t = sched.sample_t(len(x0), gen)
    xt = sched.noise(x0.double(), t.double(), torch.randn(x0.shape, generator=gen, dtype=torch.float64))
    est = log_h(xt.float().to(device), t.to(device), None if y is None else y.to(device)).cpu().double()
    exact = log_h_star(xt, t.double(), y)
    return float((est - exact).pow(2).mean())
