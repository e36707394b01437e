"""tgdp-cond: conditional TGDP (labels are not noised).

A label-conditional source model eps_theta(x_t, y, t), a joint classifier c(x, y) and
h_psi(x_t, y, t) regressed onto (1 - c(x_0, y)) / c(x_0, y) over (x_0, y) ~ p give
grad log q_t(x_t | y) = grad log p_t(x_t | y) + grad log h_psi(x_t, y, t).  Labels at
generation are drawn with the target label frequencies (estimated from the n labels).
"""

from dataclasses import dataclass

from benchmark.registry import register_method
from benchmark.tgdp.method import TGDPBase
from benchmark.tgdp.stages import TGDPParams


@dataclass(frozen=True)
class TGDPCondParams(TGDPParams):
    pass


@register_method("tgdp-cond", "conditional TGDP: label-conditional source model, joint classifier c(x, y)")
class TGDPCond(TGDPBase):
    source = "paper"
    Params = TGDPCondParams
    requires = frozenset({"labels"})
    conditional = True
