"""K stacked denoisers sampled in one batched call of the existing DPM-Solver (issue 24).

    xs = sample_stacked(StackedNet(models), (2,), n, [torch_generator(s) for s in seeds])   # (K, n, 2)
    # xs[k] is sample(models[k] as eps_fn, (2,), n, torch_generator(seeds[k])) to float32 rounding

Member k's initial noise is drawn from its own CPU generator exactly as
:func:`benchmark.diffusion.samplers.sample` draws it (one ``randn((b, *shape))`` per chunk of
``batch_size``); the K chunks are concatenated to one (K b, *shape) batch, run through the
solver's steps (whose coefficients depend on the time only) and split again.  The network
sees (K, b, ...) through :class:`~benchmark.diffusion.stacked_nets.StackedNet`.  Guidance:
``grad_log_h`` of :func:`stacked_grad_log_h` (K stacked log h networks, one autograd pass for
all members: their outputs do not mix, so the gradient of the sum is every member's own).
DPM-Solver-1/2 only (Euler-Maruyama draws noise every step from one generator).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from benchmark.diffusion.guidance import GradLogH, grad_log_of
from benchmark.diffusion.samplers import _dpm
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.stacked_nets import StackedNet

#: raw network output (K, B) -> log h (K, B); e.g. GuidanceNet.log_h's transform
LogTransform = Callable[[torch.Tensor], torch.Tensor]


def _members(k: int, x: torch.Tensor, *more: Optional[torch.Tensor]):
    """Flat (K b, ...) tensors -> (K, b, ...) views."""
    b = x.shape[0] // k
    return (x.view(k, b, *x.shape[1:]), *(None if m is None else m.view(k, b, *m.shape[1:]) for m in more))


def stacked_eps(net: StackedNet) -> Callable:
    """eps_fn on the flat batch: x (K b, ...), t (K b,), labels (K b,) | None -> (K b, ...)."""

    def eps(x, t, labels):
        xs, ts, ls = _members(net.k, x, t, labels)
        return net(xs, ts, ls).reshape(x.shape)

    return eps


def stacked_grad_log_h(net: StackedNet, transform: Optional[LogTransform] = None) -> GradLogH:
    """grad_x log h on the flat batch for K stacked scalar networks (B, 1) whose raw output
    ``transform`` maps to log h (identity when None: the network outputs log h)."""

    def log_h(x, t, labels):
        xs, ts, ls = _members(net.k, x, t, labels)
        out = net(xs, ts, ls).squeeze(-1)  # (K, b)
        return (out if transform is None else transform(out)).reshape(-1)

    return grad_log_of(log_h)


def sample_stacked(net: StackedNet, shape: tuple[int, ...], n: int, generators: Sequence[torch.Generator],
                   device: torch.device | str = "cpu", sampler: str = "dpm2", steps: int = 25,
                   labels: Optional[torch.Tensor] = None, grad_log_h: Optional[GradLogH] = None,
                   gamma: float = 1.0, schedule: Optional[VPSchedule] = None, batch_size: int = 10_000,
                   lagged_guidance: bool = False, max_rows: Optional[int] = None) -> torch.Tensor:
    """``n`` samples of ``shape`` from each of the K members -> (K, n, *shape) on ``device``.

    Args: as :func:`benchmark.diffusion.samplers.sample`, with one generator per member,
    ``labels`` (K, n) or None, ``grad_log_h`` from :func:`stacked_grad_log_h` (flat batch).
    ``max_rows``: at most this many rows (K c) per solver run: the drawn noise is split along the
    points into chunks of c (the draws do not change; on a CPU, K x 2,000 rows of 128 floats
    per layer overflow the caches, ``scripts/stacked_train.py`` times it)."""
    if sampler not in ("dpm2", "dpm1"):
        raise ValueError(f"stacked sampling supports dpm2 and dpm1, not {sampler!r}")
    if len(generators) != net.k:
        raise ValueError(f"{len(generators)} generators for {net.k} members")
    if lagged_guidance and sampler != "dpm2":
        raise ValueError(f"lagged_guidance is defined for the dpm2 sampler only, not {sampler!r}")
    sched = schedule or VPSchedule()
    eps = stacked_eps(net)
    out = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        noise = torch.stack([torch.randn((b, *shape), generator=g) for g in generators]).to(device)  # (K, b, ...)
        c = b if max_rows is None else max(1, min(b, max_rows // net.k))
        for j in range(0, b, c):
            x = noise[:, j:j + c].reshape(-1, *shape)
            lab = None if labels is None else labels[:, start + j:start + min(j + c, b)].reshape(-1).to(device)
            x = _dpm(eps, sched, x, steps, lab, grad_log_h, gamma, order=2 if sampler == "dpm2" else 1,
                     lagged_guidance=lagged_guidance)
            out.append(x.view(net.k, -1, *shape))
    return torch.cat(out, dim=1)
