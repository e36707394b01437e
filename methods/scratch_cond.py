"""scratch-cond: a label-conditional denoiser trained on the n labelled target samples only.

eps_theta(x_t, y, t) from a random init, trained on the n target pairs (x_0, y) with the
denoising loss E_{t, eps} || eps_theta(alpha_t x_0 + sigma_t eps, y, t) - eps ||^2; samples use
labels drawn from the target label frequencies (estimated from the n labels), as tgdp-cond
does.  Ours (a baseline the paper does not report).
"""

from benchmark.api import FitContext
from benchmark.registry import register_method
from benchmark.denoiser_methods import DenoiserMethod, ScratchParams, trained_denoiser


@register_method("scratch-cond", "label-conditional denoiser trained on the labelled target samples only (ours)")
class ScratchCond(DenoiserMethod):
    source = "ours"
    Params = ScratchParams  # the same budget fields as scratch, so suite settings apply to both
    requires = frozenset({"labels"})
    conditional = True

    def fit(self, ctx: FitContext) -> None:
        p, d = self.params, ctx.data
        model = trained_denoiser(ctx, "scratch", p, d.target_x, d.target_y, d.target_key, p.steps, p.scratch_lr,
                                 conditional=True, target_batch=p.target_batch)
        self._bind(ctx, model)
