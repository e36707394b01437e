"""lora: low-rank adapters (alpha/r) B A on the source model's Linear/Conv1d weights.

Only A and B train (B starts at zero, so training starts at the source model); the
adapters are merged into the weights before sampling.  Budget: the ``finetune`` block
(finetune_steps, target_batch target draws per step with replacement; its own finetune_lr).  See benchmark.diffusion.lora.
"""

import copy
from dataclasses import dataclass
from typing import ClassVar

from benchmark.api import FitContext
from benchmark.diffusion.lora import apply_lora, merge_lora
from benchmark.diffusion.training import fit_denoiser
from benchmark.registry import register_method
from benchmark.seeding import seed_everything, torch_generator
from benchmark.denoiser_methods import DenoiserMethod, DenoiserParams, TargetBatch, source_denoiser
from benchmark.stage_configs import choice, log_uniform, tunable


@dataclass(frozen=True)
class LoRAParams(DenoiserParams, TargetBatch):
    BLOCKS: ClassVar[tuple[str, ...]] = ("finetune",)  # its own finetune_* fields take the finetune block
    rank: int = tunable(4, choice(2, 4, 8, 16))
    alpha: float = 4.0
    finetune_steps: int = 1000
    finetune_lr: float = tunable(1e-3, log_uniform(1e-4, 1e-2))


@register_method("lora", "LoRA adapters on the source model, only the adapters train")
class LoRA(DenoiserMethod):
    source = "published"
    Params = LoRAParams

    def fit(self, ctx: FitContext) -> None:
        p, d = self.params, ctx.data
        model = copy.deepcopy(source_denoiser(ctx, p))
        seed_everything(ctx.seed("init", "lora"))
        adapters = apply_lora(model, p.rank, p.alpha, generator=torch_generator(ctx.seed("init", "lora-A")))
        with ctx.timed_cost("lora", p.finetune_steps, p.finetune_steps * p.target_batch):
            fit_denoiser(model, d.target_x, None, p.finetune_steps, p.target_batch, p.finetune_lr,
                         torch_generator(ctx.seed("train")), ctx.device, params=adapters, progress=ctx.progress,
                         desc="lora", checkpoint=ctx.run_checkpoint("lora"), log=ctx.log, with_replacement=True)
        ctx.diagnostics["trainable_params"] = float(sum(a.numel() for a in adapters))
        self._bind(ctx, merge_lora(model))
