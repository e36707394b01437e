"""scratch: the denoiser trained on the n target samples only, from a random init."""

from benchmark.api import FitContext
from benchmark.registry import register_method
from benchmark.denoiser_methods import DenoiserMethod, ScratchParams, trained_denoiser


@register_method("scratch", "trained on the n target samples only")
class Scratch(DenoiserMethod):
    source = "published"
    Params = ScratchParams

    def fit(self, ctx: FitContext) -> None:
        p, d = self.params, ctx.data
        model = trained_denoiser(ctx, "scratch", p, d.target_x, None, d.target_key, p.steps, p.scratch_lr,
                                 target_batch=p.target_batch)
        self._bind(ctx, model)
