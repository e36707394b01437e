"""Seeded, device-aware training loops: Adam, mini-batches, a step budget, optional EMA.

Denoising score matching in noise space (the loss every denoiser here minimises):
    L(theta) = E_{t ~ U[t_min, 1], x_0, eps} w(x_0) || eps_theta(alpha_t x_0 + sigma_t eps, t[, y]) - eps ||^2
with optional per-sample weights w (importance weighting), normalised to mean 1 per batch.
Mini-batches, times and noise are drawn from one CPU generator, so a run is reproducible.
"""

from __future__ import annotations

import logging
import math
from typing import Callable, Iterable, Optional, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from benchmark.diffusion import checkpoint as ckpt
from benchmark.diffusion.checkpoint import CheckpointSpec
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
    weight_decay: float = 0.0,
    checkpoint: Optional[CheckpointSpec] = None,
    generators: Sequence[torch.Generator] = (),
    modules: Sequence[nn.Module] = (),
    log: Optional[logging.Logger] = None,
    cosine: bool = True,
) -> list[float]:
    """Adam (AdamW when ``weight_decay > 0``) on ``loss_fn(step)`` for ``steps`` steps; returns the loss trace.

    The learning rate follows a cosine decay lr_k = lr * (1 + cos(pi k / steps)) / 2
    (a function of the step only, so a resumed run gets the same schedule); ``cosine=False``
    keeps it constant.

    With ``ema_model`` and ``ema_decay > 0`` the parameters of ``ema_model`` are
    replaced at the end by their exponential moving average.

    With ``checkpoint``, the state (parameters, buffers of ``modules``, optimiser, EMA,
    the states of ``generators`` and torch's global RNG, the loss trace) is saved every
    ``checkpoint.every`` steps, and a call finding a checkpoint of the same training
    resumes after its step (see :mod:`benchmark.diffusion.checkpoint`).  For a
    bit-identical resume ``loss_fn`` must draw its randomness from ``generators`` (or
    torch's global RNG) only.
    """
    params = [p for p in params if p.requires_grad]
    # foreach=True: the multi-tensor Adam (torch's default on CUDA, not on the CPU); the same
    # arithmetic op for op, so the same bits as the per-parameter loop (issue 11:
    # scripts/optimizer_step.py checks the equality and times it), with fewer dispatches per step
    adam = dict(lr=lr, foreach=True)
    opt = torch.optim.AdamW(params, weight_decay=weight_decay, **adam) if weight_decay > 0 else torch.optim.Adam(params, **adam)
    ema = [p.detach().clone() for p in params] if ema_decay > 0 else None
    trace: list[float] = []
    start = 0
    state = None
    if checkpoint is not None and checkpoint.every > 0:
        signature = {"steps": int(steps), "lr": float(lr), "weight_decay": float(weight_decay),
                     "ema_decay": float(ema_decay), "shapes": [list(p.shape) for p in params],
                     "generators": len(generators), "cosine": bool(cosine)}
        state = ckpt.TrainState(params, opt, ema, tuple(generators), tuple(modules), signature)
        found = ckpt.load_latest(checkpoint, signature, log)
        if found is not None:
            start, trace = state.load_state_dict(found[1])
            (log or logging.getLogger(__name__)).info("%s resumed from %s (step %d of %d)", desc, found[0], start, steps)
    # Per step: no host sync and no Python float per step (the losses go into one preallocated tensor,
    # read back at checkpoints and at the end), the learning rates precomputed, the EMA as one foreach op.
    lrs = [lr * 0.5 * (1.0 + math.cos(math.pi * k / max(1, steps))) if cosine else lr for k in range(steps)]
    losses: Optional[torch.Tensor] = None
    detached = [p.detach() for p in params]
    for step in tqdm(range(start, steps), desc=desc, disable=not progress, leave=False, mininterval=1.0,
                     initial=start, total=steps):
        if cosine:
            for group in opt.param_groups:
                group["lr"] = lrs[step]
        loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(ema, detached, 1.0 - ema_decay)
        if losses is None:
            losses = torch.empty(steps, dtype=loss.dtype, device=loss.device)
        losses[step] = loss.detach()
        if state is not None and checkpoint.due(step + 1, steps):
            ckpt.save(checkpoint, state.state_dict(step + 1, trace + losses[start:step + 1].tolist()))
    if losses is not None:
        trace = trace + losses[start:].tolist()
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


def batch_with_replacement(n: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    """``batch`` indices drawn uniformly with replacement from range(n), never capped at n.

    For training on noised samples (time-dependent classifier, cycle/consistency
    regularisers, the resampled guidance estimators): each draw gets its own fresh
    (t, eps), so a batch of 256 from n = 10 points is 256 distinct noised samples,
    where :func:`batch_index` would give 10."""
    if n < 1:
        raise ValueError("cannot draw a batch from an empty set of samples")
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
    checkpoint: Optional[CheckpointSpec] = None,
    log: Optional[logging.Logger] = None,
    with_replacement: bool = False,
) -> list[float]:
    """Train ``model`` (in place, on ``device``) by DSM on x: (N, ...), labels y: (N,).

    Batches: :func:`batch_index` (min(batch, N) points) by default, the source model's rule;
    ``with_replacement=True`` draws ``batch`` points with replacement every step
    (:func:`batch_with_replacement`, each with its own fresh (t, eps)), the rule of every
    adaptation stage on the n target samples (DESIGN.md §8, equal budget).
    ``checkpoint`` makes the training resumable (see :func:`optimise`)."""
    sched = VPSchedule()
    model.to(device).train()
    x = x.to(device)
    y = None if y is None else y.to(device)
    w = None if weights is None else weights.to(device)

    draw = batch_with_replacement if with_replacement else batch_index

    def loss(_: int) -> torch.Tensor:
        idx = draw(x.shape[0], batch, generator).to(device)
        return dsm_loss(model, sched, x[idx], None if y is None else y[idx], generator, None if w is None else w[idx])

    trace = optimise(model.parameters() if params is None else params, loss, steps, lr, progress, desc,
                     ema_model=model, ema_decay=ema_decay, checkpoint=checkpoint, generators=(generator,),
                     modules=(model,), log=log)
    model.eval()
    return trace
