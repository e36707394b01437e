"""target-oracle: trained on a large target sample (10,000 by default); the upper bound."""

from dataclasses import dataclass
import math

from benchmark.api import ORACLE_POOL, FitContext
from benchmark.registry import register_method
from benchmark.denoiser_methods import DenoiserMethod, DenoiserParams, trained_denoiser


@dataclass(frozen=True)
class OracleParams(DenoiserParams):
    pass


@register_method("target-oracle", "trained on a large target sample; the upper bound")
class TargetOracle(DenoiserMethod):
    source = "published"
    Params = OracleParams
    tuned = False  # an oracle bound: its default only
    requires = frozenset({ORACLE_POOL})  # its view holds the target pool; no task capability needed

    def fit(self, ctx: FitContext) -> None:
        p, d = self.params, ctx.data
        steps = p.source_epochs * math.ceil(len(d.oracle_x) / p.batch)
        model = trained_denoiser(ctx, "target-oracle", p, d.oracle_x, None, d.source_key + ":oracle", steps, p.lr)
        self._bind(ctx, model)
