"""K denoisers of one architecture trained as one model (issue 24).

    models = fresh_members(lambda: make_denoiser("vector", (2,), 128, 3), seeds)   # or deep copies of a source model
    traces = fit_stacked(models, [MemberData(x_k) ...], [MemberConfig(steps, lr, batch, seed) ...])
    # models[k] is now what fit_denoiser(models[k], x_k, None, steps, batch, lr, torch_generator(seed), cpu) gives

Each member k has its own data (x_k: (N_k, ...), labels y_k: (N_k,), weights w_k: (N_k,)), its
own CPU generator ``torch_generator(seed_k)`` from which it draws, per step and in the lone
order, the batch indices (:func:`~benchmark.diffusion.training.batch_index`), t and eps
(:func:`~benchmark.diffusion.training.dsm_loss`), its own learning rate with the same cosine
decay as :func:`~benchmark.diffusion.training.optimise`, its own step count and EMA decay.
The members' batches B_k = min(batch_k, N_k) must be equal (one (K, B, ...) tensor).

One step: the DSM losses L_k of the active members (a, B) through one stacked forward
(:class:`~benchmark.diffusion.stacked_nets.StackedNet`), backward of sum_k L_k (member k's
gradient is dL_k/dtheta_k: members share no weights), one multi-tensor Adam (:class:`StackedAdam`)
with a per-member step size.  Members are ordered by step count (longest first, internally) so
the active members are a prefix: a finished member is neither evaluated nor updated.
:func:`optimise_stacked` is the loop for any per-member loss (classifiers, guidance networks).
No checkpoints (a stacked stage is short; rerun it whole).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import nn

from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.stacked_nets import Backend, StackedNet
from benchmark.diffusion.training import batch_index
from benchmark.seeding import seed_everything, torch_generator


@dataclass(frozen=True)
class MemberConfig:
    """One member's training: the arguments of ``fit_denoiser`` (generator = torch_generator(seed))."""

    steps: int
    lr: float
    batch: int
    seed: int
    ema: float = 0.0
    cosine: bool = True

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch < 1 or not self.lr > 0 or not 0.0 <= self.ema < 1.0:
            raise ValueError(f"a member needs steps >= 0, batch >= 1, lr > 0 and 0 <= ema < 1; got {self}")

    def lr_at(self, step: int) -> float:
        """The learning rate of step ``step`` (as :func:`~benchmark.diffusion.training.optimise`)."""
        if not self.cosine:
            return self.lr
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * step / max(1, self.steps)))


@dataclass(frozen=True)
class MemberData:
    """One member's training set: x (N, ...), labels y (N,) or None, sample weights (N,) or None."""

    x: torch.Tensor
    y: Optional[torch.Tensor] = None
    weights: Optional[torch.Tensor] = None


def fresh_members(build: Callable[[], nn.Module], seeds: Sequence[int]) -> list[nn.Module]:
    """``build()`` after ``seed_everything(seed)`` per member: the init of a lone stage trained with that seed."""
    out = []
    for seed in seeds:
        seed_everything(seed)
        out.append(build())
    return out


class StackedAdam:
    """Adam over stacked tensors (K, ...) with a per-member step size.

    ``step(a, lrs)`` updates members [0, a) with learning rates ``lrs`` (a,); all of them have taken
    the same number of steps (the bias corrections are shared).  By default torch's foreach Adam
    arithmetic op for op (the bits of ``fit_denoiser``'s optimiser); ``fused=True`` calls torch's
    fused Adam kernel once per member (one pass over the state instead of nine: about 3x less
    optimiser time on the CPU, but other rounding than the lone foreach Adam)."""

    def __init__(self, params: Sequence[torch.Tensor], betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 fused: bool = False):
        self.params = list(params)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.betas, self.eps, self.t, self.fused = betas, eps, 0, fused
        self._views: dict[int, tuple[list[torch.Tensor], ...]] = {}
        self._step = torch.zeros((), device=self.params[0].device)
        self._members = [tuple([x[k] for x in xs] for xs in (self.params, self.m, self.v)) for k in range(len(params[0]))]

    @torch.no_grad()
    def _fused_step(self, a: int, lrs: Sequence[float]) -> None:
        self._step.fill_(self.t)
        steps = [self._step] * len(self.params)  # read only by the kernel
        for k in range(a):
            ps, ms, vs = self._members[k]
            torch._fused_adam_(ps, [p.grad[k] for p in self.params], ms, vs, [], steps, lr=lrs[k],
                               beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0, eps=self.eps,
                               amsgrad=False, maximize=False)

    def _prefix(self, a: int) -> tuple[list[torch.Tensor], ...]:
        """(params, m, v) of members [0, a), as views (made once per a)."""
        if a not in self._views:
            self._views[a] = tuple([x[:a] for x in xs] for xs in (self.params, self.m, self.v))
        return self._views[a]

    @torch.no_grad()
    def step(self, a: int, lrs: Sequence[float]) -> None:
        b1, b2 = self.betas
        self.t += 1
        if self.fused:
            return self._fused_step(a, lrs)
        ps, ms, vs = self._prefix(a)
        gs = [p.grad[:a] for p in self.params]
        torch._foreach_lerp_(ms, gs, 1 - b1)
        torch._foreach_mul_(vs, b2)
        torch._foreach_addcmul_(vs, gs, gs, 1 - b2)
        bc1, bc2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        p0 = self.params[0]
        # torch: addcdiv_(p, m, denom, value=-lr/bc1) = p + (value * m) / denom with value rounded to
        # float32; here p + (1 * (size_k * m)) / denom, the same bits with a per-member value
        size = torch.tensor([(lr / bc1) * -1 for lr in lrs], dtype=p0.dtype, device=p0.device)
        denom = torch._foreach_sqrt(vs)
        torch._foreach_div_(denom, bc2 ** 0.5)
        torch._foreach_add_(denom, self.eps)
        upd = torch._foreach_mul(ms, [size.view(a, *(1,) * (m.dim() - 1)) for m in ms])
        torch._foreach_addcdiv_(ps, upd, denom)


def _common_batch(data: Sequence[MemberData], configs: Sequence[MemberConfig]) -> int:
    if len({tuple(d.x.shape[1:]) for d in data}) != 1:
        raise ValueError(f"stacked members need one sample shape; got {sorted({tuple(d.x.shape[1:]) for d in data})}")
    sizes = {min(c.batch, len(d.x)) for d, c in zip(data, configs)}
    if len(sizes) != 1:
        raise ValueError(f"stacked members need one batch size min(batch, N); got {sorted(sizes)}")
    return sizes.pop()


def _cat(parts: Sequence[Optional[torch.Tensor]], what: str, device) -> Optional[torch.Tensor]:
    if all(p is None for p in parts):
        return None
    if any(p is None for p in parts):
        raise ValueError(f"either every member has {what} or none")
    return torch.cat([p.to(device) for p in parts])


#: ``member_loss(step, a, params) -> (a,)``: the losses of members [0, a) at ``step``, computed
#: with ``params`` (the stacked parameters of those members, ``name -> (a, ...)``)
MemberLoss = Callable[[int, int, dict[str, torch.Tensor]], torch.Tensor]


def optimise_stacked(net: StackedNet, member_loss: MemberLoss, configs: Sequence[MemberConfig],
                     fused_adam: bool = False) -> torch.Tensor:
    """Adam on the members of ``net`` (in place), member k for ``configs[k].steps`` steps at its own
    lr (cosine decay as :func:`~benchmark.diffusion.training.optimise`) and EMA; returns the losses
    (max steps, K), zero after a member's last step.

    ``configs`` must be ordered by step count, longest first: at each step the active members are
    a prefix [0, a) and only they are evaluated and updated.  Any per-member loss works (DSM:
    :func:`fit_stacked`; classifiers, guidance networks: their own ``member_loss``); the lone
    loop's bits need the loss to draw member k's randomness from member k's generator in the lone
    order."""
    if any(b.steps > a.steps for a, b in zip(configs, configs[1:])):
        raise ValueError("optimise_stacked needs the members ordered by steps, longest first")
    params = list(net.params.values())
    device = params[0].device
    for p in params:
        p.requires_grad_(True)
    adam = StackedAdam(params, fused=fused_adam)
    keep = torch.tensor([1.0 - c.ema for c in configs], device=device)  # lone: lerp weight 1 - ema (a Python float)
    use_ema = torch.tensor([c.ema > 0 for c in configs], device=device)
    ema = [p.detach().clone() for p in params] if bool(use_ema.any()) else None
    total = configs[0].steps if configs else 0
    losses = torch.zeros(total, len(configs), device=device)
    for step in range(total):
        a = sum(c.steps > step for c in configs)
        live = net.params if a == len(configs) else {n: v[:a] for n, v in net.params.items()}  # slices cost a copy back
        loss = member_loss(step, a, live)
        for p in params:
            p.grad = None
        loss.sum().backward()  # member k's gradient is d loss_k / d theta_k: members share no weights
        adam.step(a, [c.lr_at(step) for c in configs[:a]])
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_([e[:a] for e in ema], [p.detach()[:a] for p in params],
                                     [keep[:a].view(a, *(1,) * (p.dim() - 1)) for p in params])
        losses[step, :a] = loss.detach()
    with torch.no_grad():
        if ema is not None:
            for e, p in zip(ema, params):
                p[use_ema] = e[use_ema]
        for p in params:
            p.requires_grad_(False)
    return losses


def fit_stacked(models: Sequence[nn.Module], data: Sequence[MemberData], configs: Sequence[MemberConfig],
                device: torch.device | str = "cpu", backend: Backend = "auto",
                fused_adam: bool = False) -> list[list[float]]:
    """Train K ``models`` (in place, left in eval mode on ``device``) by DSM; returns the K loss traces.

    Member k ends as ``fit_denoiser(models[k], data[k].x, data[k].y, c.steps, c.batch, c.lr,
    torch_generator(c.seed), device, weights=data[k].weights, ema_decay=c.ema)`` would leave it,
    to float32 rounding (see tests/test_stacked.py for the measured agreement).  ``fused_adam``:
    see :class:`StackedAdam` (faster, other rounding)."""
    if not (len(models) == len(data) == len(configs)) or not models:
        raise ValueError("fit_stacked needs as many models, data sets and configs, at least one")
    order = sorted(range(len(models)), key=lambda i: -configs[i].steps)  # active members = a prefix
    cfg = [configs[i] for i in order]
    dat = [data[i] for i in order]
    batch = _common_batch(dat, cfg)
    net = StackedNet([models[i] for i in order], backend).to(device)
    sched = VPSchedule()
    gens = [torch_generator(c.seed) for c in cfg]
    xs = torch.cat([d.x.to(device) for d in dat])
    ys, ws = _cat([d.y for d in dat], "labels", device), _cat([d.weights for d in dat], "weights", device)
    offsets = torch.tensor([0] + [len(d.x) for d in dat]).cumsum(0).tolist()
    shape = tuple(dat[0].x.shape[1:])

    def dsm(step: int, a: int, params: dict[str, torch.Tensor]) -> torch.Tensor:
        idx, ts, eps = [], [], []
        for k in range(a):  # the lone draw order: indices, then t, then eps
            idx.append(batch_index(len(dat[k].x), batch, gens[k]) + offsets[k])
            ts.append(sched.sample_t(batch, gens[k]))
            eps.append(torch.randn((batch, *shape), generator=gens[k]))
        i = torch.cat(idx).to(device)
        t, e = torch.cat(ts).to(device), torch.cat(eps).to(device)
        xt = sched.noise(xs[i], t, e).view(a, batch, *shape)
        out = net.forward(params, xt, t.view(a, batch), None if ys is None else ys[i].view(a, batch))
        err = (out - e.view(a, batch, *shape)).pow(2).flatten(2).mean(2)  # (a, B)
        if ws is None:
            return err.mean(1)
        w = ws[i].view(a, batch)
        return (w * err).sum(1) / w.sum(1)

    trace = optimise_stacked(net, dsm, cfg, fused_adam).cpu()
    for m in net.unstack_into([models[i] for i in order]):
        m.to(device).eval()
    out: list[list[float]] = [[] for _ in models]
    for k, i in enumerate(order):
        out[i] = trace[:cfg[k].steps, k].tolist()
    return out
