"""source-only-cond: the label-conditional source model eps_theta(x_t, y, t), unadapted.

The reference point of the conditional methods (tgdp-cond, finetune-cond, scratch-cond): the
same cached stage they start from, sampled with labels drawn from the target label
frequencies (estimated from the n target labels).  Whatever a conditional method gains over
this row comes from adaptation to the target domain; what this row gains over source-only
comes from conditioning alone.  Ours (a reference the paper does not report).
"""

from benchmark.api import FitContext
from benchmark.registry import register_method
from benchmark.denoiser_methods import DenoiserMethod, DenoiserParams, source_denoiser


@register_method("source-only-cond", "label-conditional source model, unadapted, target label frequencies "
                                     "(ours: the reference of the conditional rows)")
class SourceOnlyCond(DenoiserMethod):
    source = "ours"
    Params = DenoiserParams
    requires = frozenset({"labels"})
    conditional = True

    def fit(self, ctx: FitContext) -> None:
        self._bind(ctx, source_denoiser(ctx, self.params, conditional=True))
