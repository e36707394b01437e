"""finetune: every weight of the source model trained further on the n target samples."""

from benchmark.api import FitContext
from benchmark.registry import register_method
from benchmark.denoiser_methods import DenoiserMethod, FinetuneParams, finetuned_denoiser


@register_method("finetune", "all weights of the source model trained on the target samples")
class Finetune(DenoiserMethod):
    source = "published"
    Params = FinetuneParams

    def fit(self, ctx: FitContext) -> None:
        p = self.params
        self._bind(ctx, finetuned_denoiser(ctx, p, p.finetune_steps, p.finetune_lr))
