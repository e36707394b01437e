"""The TGDP method family: source denoiser + guidance grad log h through guided_eps.

Subclasses choose where the density ratio and the guidance come from:
``ratio_source`` = "classifier" (learned c, r̂ = (1 - c)/c) or "exact" (closed-form r),
``guidance_source`` = "network" (learned h_psi, estimator ``guidance_loss``), "exact"
(closed-form h*) or "time-classifier" (log h = -logit c'(x_t, t) of a time-dependent domain
classifier on noised source vs noised target samples: tgdp-tclf).
The oracle combinations show how much error each learned part adds.

Every record gets the diagnostics of :mod:`benchmark.tgdp.diagnostics`: ``ratio_ess`` and
``ratio_mean`` of the weights r̂ over the source samples (for tgdp-tclf, r̂ = exp(-logit
c'(x_0, t_min))), computed in ``fit`` from the source pool; and, in :meth:`TGDPBase.evaluate`
(after sampling, the only place that sees held-out data), the classifier's accuracy/ECE (and
``ratio_error``), on closed-form tasks the gradient diagnostics at t in {0.05, 0.1, 0.2, 0.5}
and the log-ratio grid of the ratio figure, and ``memorisation``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

import torch

from benchmark.api import FitContext
from benchmark.metrics.context import EvalContext
from benchmark.diffusion.guidance import grad_log_of
from benchmark.diffusion.schedule import VPSchedule
from benchmark.denoiser_methods import DenoiserMethod, source_denoiser
from benchmark.tgdp.diagnostics import (balanced_heldout, classifier_diagnostics, gradient_diagnostics,
                                        memorisation_score, ratio_weight_diagnostics)
from benchmark.tgdp.stages import TGDPParams, classifier_config_key, domain_classifier, guidance_network, source_log_ratios

GRID_LIMIT, GRID_SIZE = 2.5, 100
N_GRAD_DIAG = 2000  # held-out target samples for the gradient diagnostics


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
    _clf: Any = None  # the time-free domain classifier, when one was fitted (for evaluate)

    def eps(self, x: torch.Tensor, t: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        return self.model(x, t, labels if self.conditional else None)

    def _log_ratios(self, ctx: FitContext) -> tuple[torch.Tensor, Any, Any]:
        """(log r̂ over the source samples (m,), its cache identity, the classifier or None)."""
        p, d = self.params, ctx.data
        cond = self.conditional
        if self.ratio_source == "exact":
            lab = d.source_y if cond else None
            return d.closed_form.log_ratio(d.source_x.double(), lab).float(), "exact", None
        cfg = p.classifier_config()
        clf = domain_classifier(ctx, cfg, cond)
        self._clf = clf
        return source_log_ratios(ctx, clf, cond), {"classifier": classifier_config_key(cfg), "conditional": cond}, clf

    def _time_classifier(self, ctx: FitContext):
        """c'(x_t, t) for tgdp-tclf, with ``target_mix`` of r̂-resampled source samples if set."""
        p = self.params
        mix = float(getattr(p, "target_mix", 0.0))
        log_r, key = None, None
        if mix > 0:
            log_r, key, _ = self._log_ratios(ctx)
        return domain_classifier(ctx, p.time_classifier_config(), self.conditional, time=True,
                                 target_mix=mix, mix_log_r=log_r, mix_key=key)

    def fit(self, ctx: FitContext) -> None:
        p, d = self.params, ctx.data
        cond = self.conditional
        # closed forms are oracle information: only the exact rows (requires "closed_form") read them
        cf = d.closed_form if "exact" in (self.guidance_source, self.ratio_source) else None
        self._bind(ctx, source_denoiser(ctx, p, cond))
        self.gamma, self.lagged_guidance = p.gamma, p.lagged_guidance
        lab = (lambda y: y) if cond else (lambda y: None)
        if self.guidance_source == "exact":
            self.grad_log_h = lambda x, t, y: cf.grad_log_h_star(x.double(), t.double(), lab(y)).to(x)
            if self.ratio_source == "exact":
                log_r_src = cf.log_ratio(d.source_x.double(), d.source_y if cond else None)
                ctx.diagnostics.update(ratio_weight_diagnostics(log_r_src, ctx.log))
        elif self.guidance_source == "time-classifier":
            tclf = self._time_classifier(ctx)
            self.h = tclf
            log_h = lambda x, t, y: tclf.log_ratio(x, t, lab(y))  # noqa: E731
            self.grad_log_h = grad_log_of(log_h)
            t0 = torch.full((len(d.source_x),), VPSchedule().t_min)
            with torch.no_grad():
                log_r0 = torch.cat([log_h(d.source_x[i:i + 4096].to(ctx.device), t0[i:i + 4096].to(ctx.device),
                                          None if not cond else d.source_y[i:i + 4096].to(ctx.device)).cpu()
                                    for i in range(0, len(d.source_x), 4096)])
            ctx.diagnostics.update(ratio_weight_diagnostics(log_r0, ctx.log))
        else:
            log_r_src, ratio_key, _ = self._log_ratios(ctx)
            ctx.diagnostics.update(ratio_weight_diagnostics(log_r_src, ctx.log))
            h = guidance_network(ctx, p, log_r_src, ratio_key, cond)
            self.h = h
            self.grad_log_h = grad_log_of(lambda x, t, y: h.log_h(x, t, lab(y)))

    def evaluate(self, ev: EvalContext) -> dict[str, float]:
        """The held-out diagnostics (module docstring), on the ``eval`` seed stream."""
        d, cond, cf = ev.data, self.conditional, ev.data.closed_form
        out: dict[str, float] = {}
        if self._clf is not None:
            out.update(self._classifier_diagnostics(ev, self._clf))
        if cf is not None:
            x0 = d.test_x[:N_GRAD_DIAG]
            y0 = d.test_y[:N_GRAD_DIAG] if cond else None
            out.update(gradient_diagnostics(
                self.grad_log_h, lambda x, t, y: cf.grad_log_h_star(x, t, y), x0, y0,
                ev.derive("eval", "gradient_diagnostics"), ev.device))
            if d.sample_shape == (2,) and not cond and self.guidance_source == "network":
                clf = self._clf
                fn = None if clf is None else (lambda x: clf.log_ratio(x.to(ev.device)).cpu())
                with torch.no_grad():
                    ev.outputs.update(ratio_grid(fn, lambda x: cf.log_ratio(x)))
        if len(d.test_x) >= len(d.target_x):
            out["memorisation"] = memorisation_score(ev.samples.detach().cpu(), d.target_x, d.test_x)
        return out

    def _classifier_diagnostics(self, ev: EvalContext, clf) -> dict[str, float]:
        d = ev.data
        cond = self.conditional
        x, y, is_source = balanced_heldout(d.source_test_x, d.test_x, d.source_test_y if cond else None,
                                           d.test_y if cond else None)
        x = x.to(ev.device)
        y = None if y is None else y.to(ev.device)
        exact = None
        if d.closed_form is not None:
            exact = lambda xx, yy: d.closed_form.log_ratio(xx.double().cpu(), None if yy is None else yy.cpu())  # noqa: E731
        return classifier_diagnostics(
            lambda xx, yy: clf.prob_source(xx, None, yy), lambda xx, yy: clf.log_ratio(xx, None, yy),
            x, y, is_source, exact)
