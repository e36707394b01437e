"""tgdp-lr / tgdp-cond-lr: TGDP with the resampled logistic estimator of h (ours, not the paper's).

Same classifier ratio r̂ = (1 - c)/c and same target h* = E_p[r̂(x_0) | x_t] as tgdp, but
g = log h is trained by the logistic loss between a uniform source batch and a source batch
resampled in proportion to r̂ (fresh t and eps for each):
    L = mean softplus(g(x_t, t)) + mean softplus(-g(x~_t, t)),  minimiser log h* + const
(see benchmark.tgdp.guidance_net).  It draws the heavy-weight samples often instead of
weighting them heavily; on gmm2d with the exact r the paper's L2 loss leaves grad log h
flat (cosine to grad log h* about 0.08 at t = 0.05) where this one reaches about 0.97.
"""

from dataclasses import dataclass

from benchmark.registry import register_method
from benchmark.tgdp.guidance_net import GuidanceLoss
from benchmark.tgdp.method import TGDPBase
from benchmark.tgdp.stages import TGDPParams


@dataclass(frozen=True)
class TGDPLRParams(TGDPParams):
    guidance_loss: GuidanceLoss = "logistic-resampled"


@register_method("tgdp-lr", "TGDP with the resampled logistic estimator of h (ours: an improvement over the "
                 "paper, not the paper)")
class TGDPLR(TGDPBase):
    source = "ours"
    Params = TGDPLRParams


@register_method("tgdp-cond-lr", "conditional TGDP with the resampled logistic estimator of h (ours: an "
                 "improvement over the paper, not the paper)")
class TGDPCondLR(TGDPBase):
    source = "ours"
    Params = TGDPLRParams
    requires = frozenset({"labels"})
    conditional = True
