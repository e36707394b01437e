"""domain-guidance (Zhong et al., ICLR 2025): classifier-free-guidance-style transfer.

    eps = eps_src + w (eps_ft - eps_src)

with eps_src the source model and eps_ft the finetuned model of the ``finetune`` method
(the same cached stage, so it is trained once); w = 1 recovers finetuning.

Under the protocol its search space is w alone: the finetuned model it guides with is the
``finetune`` row's default (the budget's ``finetune_lr``), a stage it shares with that row, so
its K draws cost K samplings, not K finetunings; ``finetune`` tunes the rate itself.
"""

from dataclasses import dataclass
from typing import Optional

import torch

from benchmark.api import FitContext
from benchmark.registry import register_method
from benchmark.denoiser_methods import DenoiserMethod, FinetuneParams, finetuned_denoiser, source_denoiser
from benchmark.stage_configs import tunable, uniform


@dataclass(frozen=True)
class DomainGuidanceParams(FinetuneParams):
    finetune_lr: float = 1e-4  # not tuned here (module docstring): the finetune row's default stage
    w: float = tunable(1.5, uniform(1.0, 4.0), ge=0)


@register_method("domain-guidance", "eps_src + w (eps_finetuned - eps_src), reusing the finetune stage")
class DomainGuidance(DenoiserMethod):
    source = "published"
    Params = DomainGuidanceParams

    def fit(self, ctx: FitContext) -> None:
        p = self.params
        self._bind(ctx, source_denoiser(ctx, p))
        self.finetuned = finetuned_denoiser(ctx, p, p.finetune_steps, p.finetune_lr).to(ctx.device).eval()

    def eps(self, x: torch.Tensor, t: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        e_src = self.model(x, t, None)
        return e_src + self.params.w * (self.finetuned(x, t, None) - e_src)
