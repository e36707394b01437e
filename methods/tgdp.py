"""tgdp: plain TGDP: classifier ratio, guidance network, no regulariser (eta = 0).

See benchmark.tgdp for the math: eps_guided = eps_theta - gamma sigma_t grad log h_psi,
h_psi regressed on source samples onto r̂ = (1 - c)/c of the balanced domain classifier.
"""

from dataclasses import dataclass

from benchmark.registry import register_method
from benchmark.tgdp.method import TGDPBase
from benchmark.tgdp.stages import TGDPParams


@dataclass(frozen=True)
class TGDPParams(TGDPParams):
    pass


@register_method("tgdp", "plain TGDP: classifier ratio, guidance network, no regulariser (eta = 0)")
class TGDP(TGDPBase):
    source = "paper"
    Params = TGDPParams
