"""Closed forms of isotropic Gaussian mixtures under the VP forward process.

A mixture sum_c w_c N(mu_c, v_c I) noised by x_t = alpha_t x_0 + sigma_t eps stays a
mixture: p_t = sum_c w_c N(alpha_t mu_c, (alpha_t^2 v_c + sigma_t^2) I), so

    grad log p_t(x) = sum_c r_c(x) * -(x - alpha_t mu_c) / (alpha_t^2 v_c + sigma_t^2),
    eps*(x, t) = -sigma_t grad log p_t(x),

with responsibilities r_c.  For a source p and target q, r = q/p and the exact TGDP
guidance is h*(x_t, t) = q_t(x_t) / p_t(x_t) (docs/architecture.md, "The one convention").  Each component carries
a label; conditional densities are p(x | y) over the components with label y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from benchmark.diffusion.schedule import VPSchedule


@dataclass(frozen=True)
class GaussianMixture:
    """means: (C, d); variances, weights, labels: (C,)."""

    means: torch.Tensor
    variances: torch.Tensor
    weights: torch.Tensor
    labels: torch.Tensor

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def _params_t(self, t: Optional[torch.Tensor], x: torch.Tensor, sched: VPSchedule):
        means = self.means.to(x)
        var = self.variances.to(x)
        if t is None:
            return means[None], var[None].expand(x.shape[0], -1)
        a = sched.alpha(t.to(x)).view(-1, 1)
        s2 = sched.sigma(t.to(x)).pow(2).view(-1, 1)
        return a[:, :, None] * means[None], a.pow(2) * var[None] + s2  # (B, C, d), (B, C)

    def component_log_probs(self, x: torch.Tensor, t: Optional[torch.Tensor] = None,
                            sched: VPSchedule = VPSchedule()) -> torch.Tensor:
        """log(w_c N(x; mu_c(t), v_c(t) I)): (B, C)."""
        mu, var = self._params_t(t, x, sched)
        d = x.shape[1]
        sq = (x[:, None, :] - mu).pow(2).sum(-1)
        return torch.log(self.weights.to(x))[None] - 0.5 * (sq / var + d * torch.log(2 * math.pi * var))

    def log_prob(self, x: torch.Tensor, t: Optional[torch.Tensor] = None, sched: VPSchedule = VPSchedule()) -> torch.Tensor:
        """log p_t(x): (B,) (t=None gives the data density p_0)."""
        return torch.logsumexp(self.component_log_probs(x, t, sched), dim=1)

    def log_joint(self, x: torch.Tensor, y: torch.Tensor, t: Optional[torch.Tensor] = None,
                  sched: VPSchedule = VPSchedule()) -> torch.Tensor:
        """log p_t(x, y): (B,) summing the components labelled y."""
        comp = self.component_log_probs(x, t, sched)
        mask = self.labels.to(y.device)[None, :] == y[:, None]
        return torch.logsumexp(comp.masked_fill(~mask, -math.inf), dim=1)

    def score(self, x: torch.Tensor, t: Optional[torch.Tensor] = None, sched: VPSchedule = VPSchedule(),
              y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """grad_x log p_t(x) (or log p_t(x | y) when y is given): (B, d)."""
        comp = self.component_log_probs(x, t, sched)
        if y is not None:
            comp = comp.masked_fill(self.labels.to(y.device)[None, :] != y[:, None], -math.inf)
        resp = torch.softmax(comp, dim=1)
        mu, var = self._params_t(t, x, sched)
        return (resp[:, :, None] * (-(x[:, None, :] - mu) / var[:, :, None])).sum(1)

    def eps(self, x: torch.Tensor, t: torch.Tensor, sched: VPSchedule = VPSchedule(),
            y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The exact noise prediction -sigma_t grad log p_t(x [| y])."""
        return -sched.sigma(t).view(-1, 1).to(x) * self.score(x, t, sched, y)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(x: (n, d), labels: (n,)) with x ~ p."""
        comp = torch.multinomial(self.weights.double(), n, replacement=True, generator=generator)
        z = torch.randn((n, self.dim), generator=generator, dtype=torch.float64)
        x = self.means.double()[comp] + self.variances.double()[comp].sqrt()[:, None] * z
        return x.float(), self.labels[comp].clone()


@dataclass(frozen=True)
class TransferClosedForm:
    """Source p and target q with the exact ratio r = q/p and guidance h* = q_t/p_t."""

    source: GaussianMixture
    target: GaussianMixture
    schedule: VPSchedule = VPSchedule()

    def log_ratio(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """log r(x) = log q(x) - log p(x) (joint ratio q(x,y)/p(x,y) when y is given)."""
        if y is None:
            return self.target.log_prob(x) - self.source.log_prob(x)
        return self.target.log_joint(x, y) - self.source.log_joint(x, y)

    def log_h_star(self, x: torch.Tensor, t: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """log h*(x_t, t) = log q_t(x_t) - log p_t(x_t) (or the label-joint version)."""
        if y is None:
            return self.target.log_prob(x, t, self.schedule) - self.source.log_prob(x, t, self.schedule)
        return self.target.log_joint(x, y, t, self.schedule) - self.source.log_joint(x, y, t, self.schedule)

    def grad_log_h_star(self, x: torch.Tensor, t: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """grad log h* = grad log q_t - grad log p_t (conditional scores when y is given)."""
        return self.target.score(x, t, self.schedule, y) - self.source.score(x, t, self.schedule, y)
