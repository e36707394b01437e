"""dogfit: domain guidance moved into the finetuning loss (DogFit).

Source: "Domain Guidance Fine-Tuning" (DogFit), AAAI 2026, arXiv 2508.05685; code
github.com/yaramohamadi/DogFit, ``train_DogFit.py::our_training_losses`` (read at commit
c0d916e).  Sampling costs one forward pass: the guidance is baked into the weights.

The model eps_theta starts at the frozen source model eps_src and is trained on the n target
samples only, regressing the guided noise target (stop-gradient on the bracket):

    L(theta) = E_{t, x_0 ~ q_n, eps} || eps_theta(x_t, t) - [eps + (w - 1) m(t, k) sg(eps_ema(x_t, t) - eps_src(x_t, t))] ||^2

with eps_ema an exponential moving average (decay ``dogfit_ema``) of the model being trained,
updated after every optimiser step, and the mask m(t, k) = 1[k >= late_start] 1[t < cutoff]:
``late_start`` optimiser steps of plain finetuning before the guidance term switches on (the
code's ``--late-start-iter``), and ``cutoff`` the noise level from which the guidance is off
(the code's ``--mg-high``: guidance where t_norm < mg_high; 1 = everywhere, the default of the
code's run script).  w = 1 is plain finetuning.  Its minimiser is the domain-guidance
direction eps_ft + (w - 1)(eps_ft - eps_src) at the EMA's fixed point, i.e. the
``domain-guidance`` row without its two forward passes.

Differences from the code, on purpose: the code is class-conditional (eps_src is the source
model with the null label) and, at the commit read, its ``update_ema(ema, model)`` call in the
training loop is commented out, so its eps_ema stays the initial model; here eps_ema is the EMA
the paper describes (``dogfit_ema=1`` gives the frozen-copy behaviour: with an unconditional
model that is plain finetuning).  Budget: the shared ``finetune`` block (finetune_steps,
finetune_lr), batches of target_batch target draws with replacement, as ``finetune``.
"""

import copy
from dataclasses import dataclass, field

import torch

from benchmark.api import FitContext
from benchmark.denoiser_methods import DenoiserMethod, FinetuneParams, source_denoiser
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import batch_with_replacement, optimise
from benchmark.params import bounds
from benchmark.registry import register_method
from benchmark.seeding import torch_generator
from benchmark.stage_configs import tunable, uniform


@dataclass(frozen=True)
class DogFitParams(FinetuneParams):
    w: float = tunable(1.5, uniform(1.0, 4.0), ge=0)
    dogfit_ema: float = field(default=0.999, metadata=bounds(ge=0, le=1))
    late_start: int = 0
    cutoff: float = field(default=1.0, metadata=bounds(gt=0, le=1))


def dogfit_target(eps: torch.Tensor, eps_ema: torch.Tensor, eps_src: torch.Tensor, w: float,
                  mask: torch.Tensor) -> torch.Tensor:
    """eps + (w - 1) m (eps_ema - eps_src), detached; mask: (B,) of 0/1."""
    shape = (-1,) + (1,) * (eps.dim() - 1)
    return (eps + (w - 1.0) * mask.view(shape) * (eps_ema - eps_src)).detach()


@register_method("dogfit", "DogFit (AAAI 2026, arXiv 2508.05685, yaramohamadi/DogFit): finetune on the targets "
                 "regressing eps + (w-1) sg(eps_ema - eps_src); one forward pass to sample")
class DogFit(DenoiserMethod):
    source = "published"
    Params = DogFitParams

    def fit(self, ctx: FitContext) -> None:
        p, d = self.params, ctx.data
        src = source_denoiser(ctx, p).requires_grad_(False).eval()
        model = copy.deepcopy(src).requires_grad_(True).train()
        ema = copy.deepcopy(src).eval()
        params = list(model.parameters())
        ema_params = list(ema.parameters())
        sched, gen = VPSchedule(), torch_generator(ctx.seed("train"))
        x = d.target_x.to(ctx.device)
        batch = p.target_batch  # draws with replacement, each with its own (t, eps)

        def loss(step: int) -> torch.Tensor:
            if step > 0 and p.dogfit_ema < 1.0:  # the EMA of the parameters after the previous step
                with torch.no_grad():
                    torch._foreach_lerp_(ema_params, [q.detach() for q in params], 1.0 - p.dogfit_ema)
            x0 = x[batch_with_replacement(len(x), batch, gen).to(ctx.device)]
            t = sched.sample_t(len(x0), gen).to(ctx.device)
            eps = torch.randn(x0.shape, generator=gen).to(ctx.device)
            xt = sched.noise(x0, t, eps)
            target = eps
            if step >= p.late_start and p.w != 1.0:
                mask = (t < p.cutoff).to(xt.dtype)
                with torch.no_grad():
                    target = dogfit_target(eps, ema(xt, t, None), src(xt, t, None), p.w, mask)
            return (model(xt, t, None) - target).pow(2).flatten(1).mean(1).mean()

        with ctx.timed_cost("dogfit", p.finetune_steps, p.finetune_steps * batch):
            trace = optimise(params, loss, p.finetune_steps, p.finetune_lr, ctx.progress, desc="dogfit", log=ctx.log)
        ctx.log.info("dogfit trained: %d steps, final loss %.4f", p.finetune_steps,
                     sum(trace[-50:]) / max(1, len(trace[-50:])))
        self._bind(ctx, model)
