"""Domain classifiers and the density ratio r = q/p they estimate.

The network outputs a logit l(x) with c(x) = sigmoid(l(x)) = P(source | x).

``balanced`` (the default, docs/architecture.md, "The one convention"):
    L = -(1/m) sum_src log c - (1/n) sum_tgt log(1 - c)
      = mean_src softplus(-l) + mean_tgt softplus(l),
whose minimiser is c = p / (p + q), so r̂ = (1 - c)/c = exp(-l) with no prior correction.

``pooled`` BCE over the m + n pooled samples has minimiser c = m p / (m p + n q), so
r̂ = (m/n) (1 - c)/c: log r̂ = -l + log(m/n).  ``pooled-uncorrected`` forgets the
factor (a published third-party variant): log r̂ = -l, off by the factor n/m.

The same code trains the joint classifier c(x, y) (label-embedding input) for
conditional TGDP and the time-dependent classifier c'(x_t, t) on noised samples (the
cycle regulariser and tgdp-tclf), whose ratio estimates h*(x_t, t) = q_t(x_t) / p_t(x_t).
Both batches are drawn with replacement at the full batch size (never capped at n: at
n = 10 the capped version saw 10 target points per step), the rule of every adaptation
stage on the n targets (DESIGN.md §8); for a time-dependent classifier each draw has its
own (t, eps).

Regularisation (both off by default):
``input_noise`` = s > 0 adds N(0, s^2 I) to every training input (source and target);
``val_frac`` = f > 0 holds out round(f n) target and round(f m) source samples, evaluates
the balanced loss on them every ``val_every`` steps and keeps the parameters with the
lowest held-out loss (early stopping on a split of the n target samples).  The best
state is kept in memory, not in the stage checkpoint: a resumed training tracks the best
from the resume step on.

``target_mix`` = a > 0 (time-dependent classifier only): a fraction a of each target batch
is replaced by source samples resampled with replacement in proportion to given weights
(r̂ of the time-free classifier), i.e. samples of the estimate p r̂ of q.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from benchmark.diffusion.checkpoint import CheckpointSpec
from benchmark.diffusion.nets import make_scalar_net
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import batch_with_replacement, optimise

from benchmark.stage_configs import ClassifierConfig, ClassifierLoss  # noqa: F401 (defined once there)


class DomainClassifier(nn.Module):
    """Wraps the logit network; ``log_ratio`` applies the loss-specific correction.

    Shapes: x (B, *shape), t (B,) or None, y (B,) or None -> logits (B,).
    """

    def __init__(self, net: nn.Module, time: bool, log_prior_correction: float) -> None:
        super().__init__()
        self.net, self.time = net, time
        self.log_prior_correction = log_prior_correction

    def logit(self, x: torch.Tensor, t: Optional[torch.Tensor] = None, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.net(x, t if self.time else None, y).squeeze(-1)

    def prob_source(self, x, t=None, y=None) -> torch.Tensor:
        return torch.sigmoid(self.logit(x, t, y))

    def log_ratio(self, x, t=None, y=None) -> torch.Tensor:
        """log r̂ = log((1 - c)/c) + correction = -logit + correction."""
        return -self.logit(x, t, y) + self.log_prior_correction


def build_classifier(kind: str, shape: tuple[int, ...], cfg: ClassifierConfig, time: bool,
                     num_classes: Optional[int], m: int, n: int) -> DomainClassifier:
    net = make_scalar_net(kind, shape, cfg.width, cfg.depth, time=time, num_classes=num_classes)
    corr = math.log(m / n) if cfg.loss == "pooled" else 0.0
    return DomainClassifier(net, time, corr)


def target_draws_per_step(cfg: ClassifierConfig, m: int, n: int, target_mix: float = 0.0) -> float:
    """Target points a training step draws: the target batch of the balanced loss (less the
    ``target_mix`` source replacements), the expected target share batch n / (m + n) of the pooled one."""
    if cfg.loss == "balanced":
        return cfg.batch - int(round(target_mix * cfg.batch))
    return cfg.batch * n / (m + n)


def _split(count: int, frac: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) index tensors with round(frac * count) held out (at least 1 each)."""
    perm = torch.randperm(count, generator=generator)
    k = min(max(1, round(frac * count)), count - 1)
    if count < 2:
        raise ValueError("early stopping (val_frac > 0) needs at least 2 samples per domain; set val_frac=0")
    return perm[k:], perm[:k]


def train_classifier(
    clf: DomainClassifier,
    cfg: ClassifierConfig,
    xs: torch.Tensor,
    xt: torch.Tensor,
    generator: torch.Generator,
    device: torch.device,
    ys: Optional[torch.Tensor] = None,
    yt: Optional[torch.Tensor] = None,
    progress: bool = False,
    checkpoint: Optional[CheckpointSpec] = None,
    target_mix: float = 0.0,
    mix_weights: Optional[torch.Tensor] = None,
) -> list[float]:
    """Fit ``clf`` on source xs: (m, ...) against target xt: (n, ...) with cfg.loss.

    Batches are drawn with replacement at size cfg.batch; for a time-dependent classifier
    every sample of both batches is noised at its own t ~ U[t_min, 1] and eps.
    ``target_mix``/``mix_weights`` (m,): see the module docstring.
    """
    sched = VPSchedule()
    clf.to(device).train()
    xs, xt = xs.to(device), xt.to(device)
    ys = None if ys is None else ys.to(device)
    yt = None if yt is None else yt.to(device)
    if target_mix > 0:
        if not clf.time or cfg.loss != "balanced" or mix_weights is None:
            raise ValueError("target_mix needs a time-dependent classifier, the balanced loss and source weights")
        mix_w = mix_weights.double().cpu()
    val = None
    if cfg.val_frac > 0:
        tr_s, va_s = _split(len(xs), cfg.val_frac, generator)
        tr_t, va_t = _split(len(xt), cfg.val_frac, generator)
        val = (xs[va_s.to(device)], xt[va_t.to(device)], None if ys is None else ys[va_s.to(device)],
               None if yt is None else yt[va_t.to(device)])
        xs, xt = xs[tr_s.to(device)], xt[tr_t.to(device)]
        ys = None if ys is None else ys[tr_s.to(device)]
        yt = None if yt is None else yt[tr_t.to(device)]
        if target_mix > 0:
            mix_w = mix_w[tr_s]
    m, n = len(xs), len(xt)
    draw = batch_with_replacement

    def noised(x: torch.Tensor, gen: torch.Generator = generator) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        if cfg.input_noise > 0:
            x = x + cfg.input_noise * torch.randn(x.shape, generator=gen).to(device)
        if not clf.time:
            return x, None
        t = sched.sample_t(len(x), gen).to(device)
        return sched.noise(x, t, torch.randn(x.shape, generator=gen).to(device)), t

    def balanced(i_s, i_t, xs_, xt_, ys_, yt_, gen=generator, mix_idx=None) -> torch.Tensor:
        bs, ts = noised(xs_[i_s], gen)
        bt_x = xt_[i_t]
        bt_y = None if yt_ is None else yt_[i_t]
        if mix_idx is not None:
            bt_x = torch.cat([bt_x, xs_[mix_idx]])
            bt_y = None if bt_y is None else torch.cat([bt_y, ys_[mix_idx]])
        bt, tt = noised(bt_x, gen)
        ls = clf.logit(bs, ts, None if ys_ is None else ys_[i_s])
        lt = clf.logit(bt, tt, bt_y)
        return F.softplus(-ls).mean() + F.softplus(lt).mean()

    n_mix = int(round(target_mix * cfg.batch))

    def loss(_: int) -> torch.Tensor:
        if cfg.loss == "balanced":
            i_s = draw(m, cfg.batch, generator).to(device)
            if n_mix > 0:
                i_t = draw(n, cfg.batch - n_mix, generator).to(device)
                mix_idx = torch.multinomial(mix_w, n_mix, replacement=True, generator=generator).to(device)
                return balanced(i_s, i_t, xs, xt, ys, yt, mix_idx=mix_idx)
            i_t = draw(n, cfg.batch, generator).to(device)
            return balanced(i_s, i_t, xs, xt, ys, yt)
        idx = draw(m + n, cfg.batch, generator).to(device)
        src = idx < m
        x_all = torch.cat([xs[idx[src]], xt[idx[~src] - m]])
        y_all = None if ys is None else torch.cat([ys[idx[src]], yt[idx[~src] - m]])
        bx, tx = noised(x_all)
        logits = clf.logit(bx, tx, y_all)
        k = int(src.sum())
        return (F.softplus(-logits[:k]).sum() + F.softplus(logits[k:]).sum()) / len(idx)

    loss_fn = loss
    best: dict = {}
    if val is not None:
        vs, vt, vys, vyt = val

        def val_loss() -> float:
            # fixed noise draws (same every evaluation) so held-out losses are comparable
            gen = torch.Generator().manual_seed(0)
            reps = 8 if clf.time else 1
            with torch.no_grad():
                i_s = torch.arange(len(vs), device=device).repeat(reps)
                i_t = torch.arange(len(vt), device=device).repeat(reps)
                return float(balanced(i_s, i_t, vs, vt, vys, vyt, gen))

        def loss_fn(step: int) -> torch.Tensor:  # noqa: F811 - wraps loss with the held-out check
            if step % cfg.val_every == 0:
                clf.eval()
                v = val_loss()
                clf.train()
                if not best or v < best["loss"]:
                    best.update(loss=v, step=step, state={k: t.detach().clone() for k, t in clf.state_dict().items()})
            return loss(step)

    trace = optimise(clf.parameters(), loss_fn, cfg.steps, cfg.lr, progress, desc="classifier",
                     weight_decay=cfg.weight_decay, checkpoint=checkpoint, generators=(generator,), modules=(clf,))
    if val is not None:
        clf.eval()
        if val_loss() > best.get("loss", float("inf")):
            clf.load_state_dict(best["state"])
    clf.eval()
    return trace
