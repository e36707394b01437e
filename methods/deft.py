"""deft: a small residual (Doob's h-transform) network on the frozen source model, trained on the targets.

Source: "DEFT: Efficient Fine-Tuning of Diffusion Models by Learning the Generalised
h-transform", NeurIPS 2024, arXiv 2406.01781; code github.com/alexdenker/DEFT
(``htransform/losses.py::epsilon_based_loss_fn_finetuning``, read at commit 2495d46).

The source model eps_src stays frozen; a small network eps_phi(x_t, t) (output zero at init)
is trained by denoising score matching of the composed model on the n target samples:

    L(phi) = E_{t, x_0 ~ q_n, eps} || sg(eps_src(x_t, t)) + eps_phi(x_t, t) - eps ||^2.

Its minimiser is eps_phi* = E_q[eps | x_t] - eps_src = -sigma_t (grad log q_t - grad log p_t)
= -sigma_t grad log h*(x_t, t) (exact source model), i.e. s_phi = -eps_phi / sigma_t fits
grad log h* from the target samples directly instead of from a ratio r̂ (TGDP).  Sampling uses
eps_src + eps_phi, which is guided_eps with grad log h = -eps_phi / sigma_t and gamma = 1.

Size and budget: those of TGDP's guidance network h_psi (the shared ``guidance`` block:
guid_width, guid_depth, guid_steps, guid_lr, guid_batch), so "ratio or direct" is compared at
one network size and step count; batches of guid_batch target draws with replacement, each with
its own (t, eps).  For ECG the residual is a 1-D U-Net (base guid_width, guid_depth levels)
without the Gaussian skip.  Difference from the code: DEFT's network also reads x̂0 of the
source model (and the measurement, for inverse problems); here it reads (x_t, t) only.
"""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from benchmark.api import FitContext
from benchmark.denoiser_methods import DenoiserMethod, DenoiserParams, source_denoiser
from benchmark.diffusion.nets import TimeMLP
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import batch_with_replacement, optimise
from benchmark.diffusion.unet1d import UNet1d
from benchmark.registry import register_method
from benchmark.seeding import seed_everything, torch_generator
from benchmark.tgdp.stages import GuidanceNetFields


@dataclass(frozen=True)
class DEFTParams(DenoiserParams, GuidanceNetFields):
    """The residual network is sized and trained as TGDP's guidance network (the ``guidance``
    block's guid_* fields), so ratio-based and direct guidance compare at one size."""


def residual_net(kind: str, shape: tuple[int, ...], width: int, depth: int) -> nn.Module:
    """eps_phi(x_t, t): zero output at init (the composed model starts at the source model)."""
    if kind == "vector":
        net = TimeMLP(int(shape[0]), int(shape[0]), width, depth, time=True)
        nn.init.zeros_(net.head.weight)
        nn.init.zeros_(net.head.bias)
        return _NoLabel(net)
    if kind == "ecg":
        return _NoLabel(UNet1d(shape, base=width, levels=depth, gaussian_skip=False))  # output conv zero-init
    raise ValueError(f"no residual network for data kind {kind!r}")


class _NoLabel(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.net(x, t)


def train_residual(residual: nn.Module, eps_src, x: torch.Tensor, steps: int, batch: int, lr: float,
                   generator: torch.Generator, device: torch.device, progress: bool = False) -> list[float]:
    """DEFT's loss || sg(eps_src(x_t, t)) + eps_phi(x_t, t) - eps ||^2 on x: (n, ...); trains in place."""
    sched = VPSchedule()
    residual.to(device).train()
    x = x.to(device)

    def loss(_: int) -> torch.Tensor:
        x0 = x[batch_with_replacement(len(x), batch, generator).to(device)]
        t = sched.sample_t(len(x0), generator).to(device)
        eps = torch.randn(x0.shape, generator=generator).to(device)
        xt = sched.noise(x0, t, eps)
        with torch.no_grad():
            base = eps_src(xt, t)
        return (base + residual(xt, t) - eps).pow(2).flatten(1).mean(1).mean()

    trace = optimise(residual.parameters(), loss, steps, lr, progress, desc="deft", generators=(generator,))
    residual.eval()
    return trace


@register_method("deft", "DEFT h-transform (NeurIPS 2024, arXiv 2406.01781, alexdenker/DEFT): frozen source + small "
                 "residual eps_phi trained by DSM on the targets, s_phi ~ grad log h* learned directly")
class DEFT(DenoiserMethod):
    source = "published"
    Params = DEFTParams

    def fit(self, ctx: FitContext) -> None:
        p, d = self.params, ctx.data
        src = source_denoiser(ctx, p).requires_grad_(False).eval()
        seed_everything(ctx.seed("init", "deft"))
        residual = residual_net(d.kind, d.sample_shape, p.guid_width, p.guid_depth)
        with ctx.timed_cost("deft", p.guid_steps, p.guid_steps * p.guid_batch):
            trace = train_residual(residual, lambda x, t: src(x, t, None), d.target_x, p.guid_steps, p.guid_batch,
                                   p.guid_lr, torch_generator(ctx.seed("train")), ctx.device, ctx.progress)
        ctx.log.info("deft trained: %d steps, final loss %.4f", p.guid_steps, sum(trace[-50:]) / max(1, len(trace[-50:])))
        ctx.diagnostics["trainable_params"] = float(sum(q.numel() for q in residual.parameters()))
        self._bind(ctx, src)
        self.residual = residual.to(ctx.device).eval()

    def eps(self, x: torch.Tensor, t: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        return self.model(x, t, None) + self.residual(x, t)

    def grad_log_h_hat(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The implied guidance s_phi = -eps_phi / sigma_t (for diagnostics and tests)."""
        shape = (-1,) + (1,) * (x.dim() - 1)
        return -self.residual(x, t) / VPSchedule().sigma(t).view(shape)
