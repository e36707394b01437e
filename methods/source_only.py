"""source-only: the pretrained source model, unadapted (the lower reference point)."""

from benchmark.api import FitContext
from benchmark.registry import register_method
from benchmark.denoiser_methods import DenoiserMethod, DenoiserParams, source_denoiser


@register_method("source-only", "the pretrained source model, unadapted")
class SourceOnly(DenoiserMethod):
    source = "published"
    Params = DenoiserParams

    def fit(self, ctx: FitContext) -> None:
        self._bind(ctx, source_denoiser(ctx, self.params))
