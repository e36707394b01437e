"""finetune: every weight of the source model trained further on the n target samples."""

from dataclasses import dataclass

from benchmark.api import FitContext
from benchmark.registry import register_method
from benchmark.stages.denoisers import DenoiserMethod, DenoiserParams, finetuned_denoiser


@dataclass(frozen=True)
class FinetuneParams(DenoiserParams):
    finetune_steps: int = 1000
    finetune_lr: float = 1e-4


@register_method("finetune", "all weights of the source model trained on the target samples")
class Finetune(DenoiserMethod):
    Params = FinetuneParams

    def fit(self, ctx: FitContext) -> None:
        p = self.params
        self._bind(ctx, finetuned_denoiser(ctx, p, p.finetune_steps, p.finetune_lr))
