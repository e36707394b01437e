"""Domain classifiers and the density ratio r = q/p they estimate.

The network outputs a logit l(x) with c(x) = sigmoid(l(x)) = P(source | x).

``balanced`` (the default, DESIGN.md §1):
    L = -(1/m) sum_src log c - (1/n) sum_tgt log(1 - c)
      = mean_src softplus(-l) + mean_tgt softplus(l),
whose minimiser is c = p / (p + q), so r̂ = (1 - c)/c = exp(-l) with no prior correction.

``pooled`` BCE over the m + n pooled samples has minimiser c = m p / (m p + n q), so
r̂ = (m/n) (1 - c)/c: log r̂ = -l + log(m/n).  ``pooled-uncorrected`` forgets the
factor (a published third-party variant): log r̂ = -l, off by the factor n/m.

The same code trains the joint classifier c(x, y) (label-embedding input) for
conditional TGDP and the time-dependent classifier c'(x_t, t) on noised samples (the
cycle regulariser), whose ratio estimates h*(x_t, t) = q_t(x_t) / p_t(x_t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import nn
from torch.nn import functional as F

from benchmark.diffusion.checkpoint import CheckpointSpec
from benchmark.diffusion.nets import make_scalar_net
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import batch_index, optimise

ClassifierLoss = Literal["balanced", "pooled", "pooled-uncorrected"]


@dataclass(frozen=True)
class ClassifierConfig:
    width: int = 256
    depth: int = 3
    steps: int = 2000
    lr: float = 1e-3
    batch: int = 512
    weight_decay: float = 1e-4
    loss: ClassifierLoss = "balanced"


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
) -> list[float]:
    """Fit ``clf`` on source xs: (m, ...) against target xt: (n, ...) with cfg.loss.

    For a time-dependent classifier both batches are noised at a shared t ~ U[t_min, 1].
    """
    sched = VPSchedule()
    clf.to(device).train()
    xs, xt = xs.to(device), xt.to(device)
    ys = None if ys is None else ys.to(device)
    yt = None if yt is None else yt.to(device)
    m, n = len(xs), len(xt)

    def noised(x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        if not clf.time:
            return x, None
        t = sched.sample_t(len(x), generator).to(device)
        return sched.noise(x, t, torch.randn(x.shape, generator=generator).to(device)), t

    def loss(_: int) -> torch.Tensor:
        if cfg.loss == "balanced":
            i_s = batch_index(m, cfg.batch, generator).to(device)
            i_t = batch_index(n, cfg.batch, generator).to(device)
            bs, ts = noised(xs[i_s])
            bt, tt = noised(xt[i_t])
            ls = clf.logit(bs, ts, None if ys is None else ys[i_s])
            lt = clf.logit(bt, tt, None if yt is None else yt[i_t])
            return F.softplus(-ls).mean() + F.softplus(lt).mean()
        idx = batch_index(m + n, cfg.batch, generator).to(device)
        src = idx < m
        x_all = torch.cat([xs[idx[src]], xt[idx[~src] - m]])
        y_all = None if ys is None else torch.cat([ys[idx[src]], yt[idx[~src] - m]])
        bx, tx = noised(x_all)
        logits = clf.logit(bx, tx, y_all)
        k = int(src.sum())
        return (F.softplus(-logits[:k]).sum() + F.softplus(logits[k:]).sum()) / len(idx)

    trace = optimise(clf.parameters(), loss, cfg.steps, cfg.lr, progress, desc="classifier",
                     weight_decay=cfg.weight_decay, checkpoint=checkpoint, generators=(generator,), modules=(clf,))
    clf.eval()
    return trace
