"""Oracle decompositions of TGDP on closed-form tasks.

- tgdp-oracle-ratio: the exact r = q/p replaces the domain classifier; the guidance
  network is still learned.  Its gap to tgdp is the classifier's error.
- tgdp-oracle-guidance: the exact h* = q_t/p_t replaces the guidance network (and the
  classifier); only the source model is learned.  Its gap to tgdp-oracle-ratio is the
  guidance network's error; its gap to target-oracle is the source model's.
"""

from dataclasses import dataclass

from benchmark.registry import register_method
from benchmark.tgdp.method import TGDPBase
from benchmark.tgdp.stages import TGDPParams


@dataclass(frozen=True)
class OracleRatioParams(TGDPParams):
    pass


@dataclass(frozen=True)
class OracleGuidanceParams(TGDPParams):
    pass


@register_method("tgdp-oracle-ratio", "TGDP with the exact density ratio r in place of the classifier")
class TGDPOracleRatio(TGDPBase):
    source = "ours"
    Params = OracleRatioParams
    tuned = False  # an oracle bound: its default only
    requires = frozenset({"closed_form"})
    ratio_source = "exact"


@register_method("tgdp-oracle-guidance", "TGDP with the exact guidance h* in place of the guidance network")
class TGDPOracleGuidance(TGDPBase):
    source = "ours"
    Params = OracleGuidanceParams
    tuned = False  # an oracle bound: its default only
    requires = frozenset({"closed_form"})
    guidance_source = "exact"
