"""The TGDP method family: source denoiser + guidance grad log h through guided_eps.

Subclasses choose where the density ratio and the guidance come from:
``ratio_source`` = "classifier" (learned c, r̂ = (1 - c)/c) or "exact" (closed-form r),
``guidance_source`` = "network" (learned h_psi) or "exact" (closed-form h*).
The oracle combinations show how much error each learned part adds.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

import torch

from benchmark.api import FitContext
from benchmark.diffusion.guidance import grad_log_of
from benchmark.stages.denoisers import DenoiserMethod, source_denoiser
from benchmark.tgdp.diagnostics import balanced_heldout, classifier_diagnostics, guidance_error
from benchmark.tgdp.stages import TGDPParams, domain_classifier, guidance_network, source_log_ratios

GRID_LIMIT, GRID_SIZE = 2.5, 100


def ratio_grid(log_ratio_fn, exact_fn) -> dict[str, Any]:
    """log r̂ and log r on a GRID_SIZE^2 grid over [-2.5, 2.5]^2 (for the ratio figure)."""
    lin = torch.linspace(-GRID_LIMIT, GRID_LIMIT, GRID_SIZE)
    gx, gy = torch.meshgrid(lin, lin, indexing="ij")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1)
    out = {"grid_x": gx.numpy(), "grid_y": gy.numpy(),
           "log_r_exact": exact_fn(pts.double()).reshape(GRID_SIZE, GRID_SIZE).float().numpy()}
    if log_ratio_fn is not None:
        out["log_r_hat"] = log_ratio_fn(pts).reshape(GRID_SIZE, GRID_SIZE).float().numpy()
    return out


class TGDPBase(DenoiserMethod):
    Params = TGDPParams
    ratio_source: ClassVar[str] = "classifier"
    guidance_source: ClassVar[str] = "network"

    def eps(self, x: torch.Tensor, t: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        return self.model(x, t, labels if self.conditional else None)

    def fit(self, ctx: FitContext) -> None:
        p, d = self.params, ctx.data
        cond = self.conditional
        cf = d.closed_form
        self._bind(ctx, source_denoiser(ctx, p, cond))
        self.gamma = p.gamma
        lab = (lambda y: y) if cond else (lambda y: None)
        if self.guidance_source == "exact":
            self.grad_log_h = lambda x, t, y: cf.grad_log_h_star(x.double(), t.double(), lab(y)).to(x)
            return

        if self.ratio_source == "exact":
            log_r_src = cf.log_ratio(d.source_x.double(), lab(d.source_y)).float()
            ratio_key: Any = "exact"
            clf = None
        else:
            cfg = p.classifier_config()
            clf = domain_classifier(ctx, cfg, cond)
            log_r_src = source_log_ratios(ctx, clf, cond)
            ratio_key = {"classifier": cfg.__dict__, "conditional": cond}
            self._classifier_diagnostics(ctx, clf)
        h = guidance_network(ctx, p, log_r_src, ratio_key, cond)
        self.h = h
        self.grad_log_h = grad_log_of(lambda x, t, y: h.log_h(x, t, lab(y)))
        if cf is not None:
            x0 = torch.cat([d.source_test_x[:1000], d.test_x[:1000]])
            y0 = torch.cat([d.source_test_y[:1000], d.test_y[:1000]]) if cond else None
            ctx.diagnostics["guidance_error"] = guidance_error(
                lambda x, t, y: h.log_h(x, t, y), lambda x, t, y: cf.log_h_star(x, t, y), x0, y0,
                ctx.seed("eval", "guidance_error"), ctx.device)
            if d.sample_shape == (2,) and not cond:
                fn = None if clf is None else (lambda x: clf.log_ratio(x.to(ctx.device)).cpu())
                with torch.no_grad():
                    ctx.outputs.update(ratio_grid(fn, lambda x: cf.log_ratio(x)))

    def _classifier_diagnostics(self, ctx: FitContext, clf) -> None:
        d = ctx.data
        cond = self.conditional
        x, y, is_source = balanced_heldout(d.source_test_x, d.test_x, d.source_test_y if cond else None,
                                           d.test_y if cond else None)
        x = x.to(ctx.device)
        y = None if y is None else y.to(ctx.device)
        exact = None
        if d.closed_form is not None:
            exact = lambda xx, yy: d.closed_form.log_ratio(xx.double().cpu(), None if yy is None else yy.cpu())  # noqa: E731
        ctx.diagnostics.update(classifier_diagnostics(
            lambda xx, yy: clf.prob_source(xx, None, yy), lambda xx, yy: clf.log_ratio(xx, None, yy),
            x, y, is_source, exact))
