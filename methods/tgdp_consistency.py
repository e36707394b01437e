"""tgdp-consistency: TGDP with the consistency regulariser (eta_consistency = 1).

See benchmark.tgdp for the math: eps_guided = eps_theta - gamma sigma_t grad log h_psi,
h_psi regressed on source samples onto r̂ = (1 - c)/c of the balanced domain classifier.
"""

from dataclasses import dataclass

from benchmark.registry import register_method
from benchmark.tgdp.method import TGDPBase
from benchmark.tgdp.stages import TGDPParams


@dataclass(frozen=True)
class TGDPConsistencyParams(TGDPParams):
    eta_consistency: float = 1.0


@register_method("tgdp-consistency", "TGDP with the consistency regulariser (eta_consistency = 1)")
class TGDPConsistency(TGDPBase):
    source = "paper"
    Params = TGDPConsistencyParams
