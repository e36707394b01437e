"""tgdp-tclf: guidance from a time-dependent domain classifier (ours; not TGDP's estimator).

The discriminator-guidance construction: c'(x_t, t) = P(source | x_t, t) is trained with the
balanced loss on noised source samples against noised target samples (every draw with its
own t ~ U[t_min, 1] and eps, batches drawn with replacement at the full batch size), so its
minimiser is c' = p_t / (p_t + q_t) and
    log h(x_t, t) = -logit c'(x_t, t) = log q_t(x_t) - log p_t(x_t) = log h*(x_t, t).
It uses the n target samples directly instead of TGDP's estimator E_p[r̂(x_0) | x_t]; the
network has its own size and budget (``tclf_width``, ``tclf_depth``, ``tclf_steps``,
``tclf_lr``, ``tclf_batch``).

``target_mix`` = a in [0, 1): a fraction a of each target batch is source samples resampled
in proportion to r̂ of the time-free classifier (an estimate of q with m samples behind it).
Default 0: the resampled samples carry the time-free classifier's error (at n = 10 its
mean r̂ over source samples is several times the true 1 and its ESS is small), and with
a = 0 the row measures the time-dependent classifier alone; a > 0 is an ablation.
"""

from dataclasses import dataclass

from benchmark.registry import register_method
from benchmark.tgdp.method import TGDPBase
from benchmark.tgdp.stages import TGDPParams


@dataclass(frozen=True)
class TGDPTclfParams(TGDPParams):
    target_mix: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.target_mix < 1.0:
            raise ValueError(f"target_mix={self.target_mix!r} must be in [0, 1)")


@register_method("tgdp-tclf", "guidance -logit c'(x_t, t) of a time-dependent domain classifier on noised source "
                 "vs noised target (ours: uses the target samples directly; not TGDP's estimator)")
class TGDPTclf(TGDPBase):
    source = "ours"
    Params = TGDPTclfParams
    guidance_source = "time-classifier"
