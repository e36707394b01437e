"""importance-weighted: the source model trained further on source samples weighted by r̂.

    L(theta) = E_{x_0 ~ p} w(x_0) || eps_theta(x_t, t) - eps ||^2,  w = min(r̂, clip * mean r̂),

which targets q when r̂ = q/p (self-normalised per batch).  ``mode = finetune`` starts
from the source model (cached stage); ``retrain`` starts from a fresh network with the
source budget.  r̂ comes from the same cached domain classifier as TGDP.
"""

import math
from dataclasses import dataclass
from typing import Literal

from benchmark.api import FitContext
from benchmark.registry import register_method
from benchmark.denoiser_methods import DenoiserMethod, FinetuneParams, source_denoiser, trained_denoiser
from benchmark.tgdp.stages import ClassifierFields, domain_classifier, source_log_ratios


@dataclass(frozen=True)
class ImportanceWeightedParams(FinetuneParams, ClassifierFields):
    mode: Literal["finetune", "retrain"] = "finetune"
    weight_clip: float = 50.0


@register_method("importance-weighted", "source model trained on source samples weighted by the classifier's r̂")
class ImportanceWeighted(DenoiserMethod):
    source = "published"
    Params = ImportanceWeightedParams

    def fit(self, ctx: FitContext) -> None:
        p, d = self.params, ctx.data
        cfg = p.classifier_config()
        clf = domain_classifier(ctx, cfg)
        w = source_log_ratios(ctx, clf, conditional=False).exp()
        w = w.clamp(max=float(p.weight_clip * w.mean()))
        if p.mode == "finetune":
            init = source_denoiser(ctx, p)
            steps, lr = p.finetune_steps, p.finetune_lr
        else:
            init = None
            steps, lr = p.source_epochs * math.ceil(len(d.source_x) / p.batch), p.lr
        model = trained_denoiser(ctx, "importance-weighted", p, d.source_x, None, d.target_key, steps, lr,
                                 weights=w, init=init, extra_key={"classifier": cfg.__dict__, "mode": p.mode,
                                                                  "clip": p.weight_clip})
        ctx.diagnostics["iw_effective_sample_size"] = float(w.sum() ** 2 / (w.pow(2).sum()))
        self._bind(ctx, model)
