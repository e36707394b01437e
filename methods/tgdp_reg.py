"""tgdp-reg: TGDP with both regularisers (eta_cycle = eta_consistency = 1).

See benchmark.tgdp for the math: eps_guided = eps_theta - gamma sigma_t grad log h_psi,
h_psi regressed on source samples onto r̂ = (1 - c)/c of the balanced domain classifier.
"""

from dataclasses import dataclass

from benchmark.registry import register_method
from benchmark.tgdp.method import TGDPBase
from benchmark.tgdp.stages import TGDPParams


@dataclass(frozen=True)
class TGDPRegParams(TGDPParams):
    eta_cycle: float = 1.0
    eta_consistency: float = 1.0


@register_method("tgdp-reg", "TGDP with both regularisers (eta_cycle = eta_consistency = 1)")
class TGDPReg(TGDPBase):
    source = "paper"
    Params = TGDPRegParams
