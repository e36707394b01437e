"""The guidance network h_psi(x_t, [y,] t) > 0 and its training objectives.

``guidance_loss`` picks the estimator of h*(x_t, t) = E_{p(x_0|x_t)}[r(x_0)] = q_t/p_t:

``l2`` (the paper's loss, TGDP's published rows; source samples only, the network outputs
h through a softplus; its minimiser is h* by the L2 projection property):
    L_guid = E_{t, x_0 ~ p, eps} || h_psi(x_t, t) - r̂(x_0) ||^2.
``log`` (the published ECG code's target): the network outputs log h and regresses
log r̂(x_0); by Jensen its minimiser E[log r̂ | x_t] is not log h*.
``logistic-resampled`` (ours, not the paper's): the network outputs g = log h; each step
draws a uniform source batch x_0 ~ p and a second source batch x~_0 resampled with
replacement in proportion to r̂ (so x~_0 ~ p r̂ / E_p r̂), each noised with its own fresh
(t, eps), and minimises
    L = mean softplus(g(x_t, t)) + mean softplus(-g(x~_t, t)),
the logistic loss of telling p_t from (p r̂)_t, whose minimiser is
g = log (p r̂)_t / p_t = log h* - log E_p[r̂] (the constant does not change grad log h).
Drawing the heavy-weight samples often instead of weighting them heavily keeps the
per-batch effective sample size at the batch size (the l2 loss sees about 10 of 256 on
gmm2d, where E_p[r^2] is in the hundreds).

Regularisers on target samples x'_0 ~ q, x'_t = alpha_t x'_0 + sigma_t eps (§3.4), drawn
with replacement at the full batch size with fresh (t, eps) (never capped at n):
    L_cycle = E || h_psi(x'_t, t) - (1 - c'(x'_t, t)) / c'(x'_t, t) ||^2
with the time-dependent classifier c' (in log space for the log-space estimators), and
    L_cons = E || s_theta(x'_t, t) + grad log h_psi(x'_t, t) + (x'_t - alpha_t x'_0)/sigma_t^2 ||^2 * sigma_t^2
           = E || eps_theta(x'_t, t) - sigma_t grad log h_psi(x'_t, t) - eps ||^2,
i.e. the guided noise prediction must denoise the target samples (weighted by sigma_t^2
so it is on the scale of the noise-prediction loss).  L = L_guid + eta_1 L_cycle + eta_2 L_cons.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn
from torch.nn import functional as F

from benchmark.diffusion.checkpoint import CheckpointSpec
from benchmark.diffusion.guidance import guided_eps
from benchmark.diffusion.nets import make_scalar_net
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import batch_index, batch_with_replacement, optimise
from benchmark.tgdp.classifier import DomainClassifier

from benchmark.stage_configs import GUIDANCE_LOSSES, GuidanceConfig, GuidanceLoss  # noqa: F401 (defined once there)


class GuidanceNet(nn.Module):
    """h_psi: x_t (B, *shape), t (B,), y (B,)|None -> h (B,) > 0 (softplus, ``l2``) or log h (else)."""

    def __init__(self, net: nn.Module, guidance_loss: GuidanceLoss) -> None:
        super().__init__()
        self.net, self.guidance_loss = net, guidance_loss
        self.log_space = guidance_loss != "l2"

    def raw(self, x: torch.Tensor, t: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.net(x, t, y).squeeze(-1)

    def regressed(self, x, t, y=None) -> torch.Tensor:
        """The quantity regressed: h (``l2``) or log h (log-space estimators)."""
        out = self.raw(x, t, y)
        return out if self.log_space else F.softplus(out)

    def log_h(self, x, t, y=None) -> torch.Tensor:
        out = self.raw(x, t, y)
        if self.log_space:
            return out
        return torch.log(F.softplus(out) + 1e-12)


def build_guidance(kind: str, shape: tuple[int, ...], cfg: GuidanceConfig, num_classes: Optional[int]) -> GuidanceNet:
    return GuidanceNet(make_scalar_net(kind, shape, cfg.width, cfg.depth, time=True, num_classes=num_classes),
                       cfg.guidance_loss)


def train_guidance(
    h: GuidanceNet,
    cfg: GuidanceConfig,
    src_x: torch.Tensor,
    log_r_src: torch.Tensor,
    generator: torch.Generator,
    device: torch.device,
    src_y: Optional[torch.Tensor] = None,
    tgt_x: Optional[torch.Tensor] = None,
    tgt_y: Optional[torch.Tensor] = None,
    time_classifier: Optional[DomainClassifier] = None,
    denoiser: Optional[Callable[[torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]] = None,
    progress: bool = False,
    checkpoint: Optional[CheckpointSpec] = None,
) -> list[float]:
    """Fit h on source x_0 (m, ...) with log r̂(x_0) (m,); regularisers need the target
    samples and, respectively, the time-dependent classifier or the frozen source noise
    prediction ``denoiser(x_t, t, y) -> eps_theta``."""
    sched = VPSchedule()
    h.to(device).train()
    src_x, log_r_src = src_x.to(device), log_r_src.to(device).float()
    target_val = log_r_src if h.log_space else log_r_src.exp()
    if cfg.guidance_loss == "logistic-resampled":
        # resampling weights r̂ / max r̂ on the CPU (the generator's device); (m,)
        resample_w = (log_r_src.double() - log_r_src.double().max()).exp().cpu()
    src_y = None if src_y is None else src_y.to(device)
    if cfg.eta_cycle > 0 or cfg.eta_consistency > 0:
        if tgt_x is None:
            raise ValueError("the cycle and consistency regularisers need target samples")
        tgt_x = tgt_x.to(device)
        tgt_y = None if tgt_y is None else tgt_y.to(device)
    if cfg.eta_cycle > 0 and time_classifier is None:
        raise ValueError("the cycle regulariser needs the time-dependent classifier")
    if cfg.eta_consistency > 0 and denoiser is None:
        raise ValueError("the consistency regulariser needs the source denoiser")
    if time_classifier is not None:
        time_classifier.to(device).eval().requires_grad_(False)

    def noised(x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = sched.sample_t(len(x0), generator).to(device)
        eps = torch.randn(x0.shape, generator=generator).to(device)
        return sched.noise(x0, t, eps), t, eps

    def main_term() -> torch.Tensor:
        if cfg.guidance_loss == "logistic-resampled":
            i_u = batch_with_replacement(len(src_x), cfg.batch, generator).to(device)
            i_r = torch.multinomial(resample_w, cfg.batch, replacement=True, generator=generator).to(device)
            xu, tu, _ = noised(src_x[i_u])
            xr, tr, _ = noised(src_x[i_r])
            gu = h.raw(xu, tu, None if src_y is None else src_y[i_u])
            gr = h.raw(xr, tr, None if src_y is None else src_y[i_r])
            return F.softplus(gu).mean() + F.softplus(-gr).mean()
        idx = batch_index(len(src_x), cfg.batch, generator).to(device)
        xt, t, _eps = noised(src_x[idx])
        y = None if src_y is None else src_y[idx]
        return (h.regressed(xt, t, y) - target_val[idx]).pow(2).mean()

    def loss(_: int) -> torch.Tensor:
        total = main_term()
        if cfg.eta_cycle > 0 or cfg.eta_consistency > 0:
            jdx = batch_with_replacement(len(tgt_x), cfg.batch, generator).to(device)
            xt2, t2, eps2 = noised(tgt_x[jdx])
            y2 = None if tgt_y is None else tgt_y[jdx]
            if cfg.eta_cycle > 0:
                with torch.no_grad():
                    lr_t = time_classifier.log_ratio(xt2, t2, y2)
                    goal = lr_t if h.log_space else lr_t.exp()
                total = total + cfg.eta_cycle * (h.regressed(xt2, t2, y2) - goal).pow(2).mean()
            if cfg.eta_consistency > 0:
                x_in = xt2.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(h.log_h(x_in, t2, y2).sum(), x_in, create_graph=True)
                with torch.no_grad():
                    eps_theta = denoiser(xt2, t2, y2)
                guided = guided_eps(eps_theta, grad, sched.sigma(t2))
                total = total + cfg.eta_consistency * (guided - eps2).pow(2).flatten(1).mean(1).mean()
        return total

    trace = optimise(h.parameters(), loss, cfg.steps, cfg.lr, progress, desc="guidance", checkpoint=checkpoint,
                     generators=(generator,), modules=(h,))
    h.eval()
    return trace
