"""finetune-cond: the label-conditional source model finetuned on the n labelled target samples.

The baseline that separates conditioning from guidance in tgdp-cond: it starts from the same
label-conditional source model eps_theta(x_t, y, t) (same key, so the cached stage is shared),
trains every weight further on the n target pairs (x_0, y) with the denoising loss
E_{t, eps} || eps_theta(alpha_t x_0 + sigma_t eps, y, t) - eps ||^2, and samples with labels drawn
from the target label frequencies (estimated from the n labels), exactly like tgdp-cond.
It adds no guidance.  Ours (a baseline the paper does not report).
"""

from benchmark.api import FitContext
from benchmark.registry import register_method
from benchmark.denoiser_methods import DenoiserMethod, FinetuneParams, finetuned_denoiser


@register_method("finetune-cond", "label-conditional source model finetuned on the labelled target samples "
                                  "(ours: tgdp-cond without guidance)")
class FinetuneCond(DenoiserMethod):
    source = "ours"
    Params = FinetuneParams
    requires = frozenset({"labels"})
    conditional = True

    def fit(self, ctx: FitContext) -> None:
        p = self.params
        self._bind(ctx, finetuned_denoiser(ctx, p, p.finetune_steps, p.finetune_lr, conditional=True))
