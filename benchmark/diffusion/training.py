"""Seeded, device-aware training loops: Adam, mini-batches, a step budget, optional EMA.

Denoising score matching in noise space (the loss every denoiser here minimises):
    L(theta) = E_{t ~ U[t_min, 1], x_0, eps} w(x_0) || eps_theta(alpha_t x_0 + sigma_t eps, t[, y]) - eps ||^2
with optional per-sample weights w (importance weighting), normalised to mean 1 per batch.
Mini-batches, times and noise are drawn from one CPU generator, so a run is reproducible.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import torch
from torch import nn
from tqdm.auto import tqdm

from benchmark.diffusion.schedule import VPSchedule


def optimise(
    params: Iterable[torch.nn.Parameter],
    loss_fn: Callable[[int], torch.Tensor],
    steps: int,
    lr: float,
    progress: bool = False,
    desc: str = "train",
    ema_model: Optional[nn.Module] = None,
    ema_decay: float = 0.0,
) -> list[float]:
    """Adam on ``loss_fn(step)`` for ``steps`` steps; returns the loss trace.

    With ``ema_model`` and ``ema_decay > 0`` the parameters of ``ema_model`` are
    replaced at the end by their exponential moving average.
    """
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    ema = [p.detach().clone() for p in params] if ema_decay > 0 else None
    trace = []
    for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False, mininterval=1.0):
        loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            with torch.no_grad():
                for e, p in zip(ema, params):
                    e.lerp_(p.detach(), 1.0 - ema_decay)
        trace.append(float(loss.detach()))
    if ema is not None:
        with torch.no_grad():
            for e, p in zip(ema, params):
                p.copy_(e)
    return trace


def batch_index(n: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    """min(batch, n) indices; a random permutation slice when batch >= n, else uniform draws."""
    if batch >= n:
        return torch.randperm(n, generator=generator)
    return torch.randint(n, (batch,), generator=generator)


def dsm_loss(model: nn.Module, sched: VPSchedule, x0: torch.Tensor, y: Optional[torch.Tensor],
             generator: torch.Generator, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One Monte-Carlo estimate of the (weighted) DSM loss on the batch x0: (B, ...)."""
    device = x0.device
    t = sched.sample_t(x0.shape[0], generator).to(device)
    eps = torch.randn(x0.shape, generator=generator).to(device)
    xt = sched.noise(x0, t, eps)
    err = (model(xt, t, y) - eps).pow(2).flatten(1).mean(1)
    if weights is not None:
        return (weights * err).sum() / weights.sum()
    return err.mean()


def fit_denoiser(
    model: nn.Module,
    x: torch.Tensor,
    y: Optional[torch.Tensor],
    steps: int,
    batch: int,
    lr: float,
    generator: torch.Generator,
    device: torch.device,
    weights: Optional[torch.Tensor] = None,
    ema_decay: float = 0.0,
    progress: bool = False,
    desc: str = "denoiser",
    params: Optional[Iterable[torch.nn.Parameter]] = None,
) -> list[float]:
    """Train ``model`` (in place, on ``device``) by DSM on x: (N, ...), labels y: (N,)."""
    sched = VPSchedule()
    model.to(device).train()
    x = x.to(device)
    y = None if y is None else y.to(device)
    w = None if weights is None else weights.to(device)

    def loss(_: int) -> torch.Tensor:
        idx = batch_index(x.shape[0], batch, generator).to(device)
        return dsm_loss(model, sched, x[idx], None if y is None else y[idx], generator, None if w is None else w[idx])

    trace = optimise(model.parameters() if params is None else params, loss, steps, lr, progress, desc,
                     ema_model=model, ema_decay=ema_decay)
    model.eval()
    return trace
