"""tiw-dsm: time-dependent importance-weighted denoising score matching on the source samples.

Source: "Training Unbiased Diffusion Models From Biased Dataset" (TIW-DSM), ICLR 2024,
arXiv 2403.01189; code github.com/alsdudrla10/TIW-DSM (``training/loss.py::TIW_EDMLoss``,
``classifier_lib.py::get_weight_correction``, read at commit 51af8d4).  The source pool plays
the biased data set, the n targets the reference set.

With the time-dependent domain classifier c'(x_t, t) = P(source | x_t, t) that ``tgdp-tclf``
trains (balanced loss, the same cached ``time-classifier`` stage), the time-dependent weight is
w_t(x_t) = q_t(x_t) / p_t(x_t) = exp(-logit c'(x_t, t)), and the objective on x_0 ~ p is

    L(theta) = E_{t, x_0 ~ p, eps} w_t(x_t) || s_theta(x_t, t) - grad log p(x_t | x_0) - grad log w_t(x_t) ||^2,

whose minimiser is s = grad log p_t + grad log w_t = grad log q_t: the weights make the
objective the target's DSM up to a constant, the correction grad log w_t moves the minimiser
(a weight alone does not: it only reweights where the network spends its capacity).  In noise
space (s = -eps / sigma_t, grad log p(x_t | x_0) = -eps / sigma_t), the loss here is

    sum_i w_i || eps_theta(x_t, t) - (eps - sigma_t grad log w_t(x_t)) ||^2 / sum_i w_i,

the weights self-normalised per batch and clipped at ``weight_clip`` times their batch mean (as
``importance-weighted``), w and grad log w from c' with no gradient into c'.  ``correction =
False`` drops grad log w_t (an ablation: weighting only).  Init and budget: the cached source
model trained further for the shared ``finetune`` block (finetune_steps, finetune_lr, batch);
the classifier c' has tgdp-tclf's fields (``tclf_*``, unset ones taking the ``clf_*`` value).

The published code differs in form: EDM's denoiser parametrisation, training on the union of
both sets, weight 2 d (d = P(reference | x_t), i.e. the ratio to the balanced mixture of the two
sets) and the correction taken as the gradient of d itself; we implement the objective as the
paper states it (w_t = q_t / p_t on source samples, correction grad log w_t), which is what its
minimiser argument needs.  The time-free ``importance-weighted`` row stays as the older baseline.
"""

from dataclasses import dataclass
from typing import Optional

import torch

from benchmark.api import FitContext
from benchmark.denoiser_methods import DenoiserMethod, FinetuneParams, source_denoiser
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import batch_index, optimise
from benchmark.registry import register_method
from benchmark.seeding import torch_generator
from benchmark.tgdp.classifier import DomainClassifier
from benchmark.stage_configs import TIME_CLASSIFIER, fill_inherited
from benchmark.tgdp.stages import ClassifierFields, TimeClassifierFields, domain_classifier


@dataclass(frozen=True)
class TIWDSMParams(FinetuneParams, ClassifierFields, TimeClassifierFields):
    """Its c'(x_t, t) is configured as tgdp-tclf's (the same saved fields), so the stage is shared."""

    weight_clip: float = 50.0
    correction: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        fill_inherited(self, TIME_CLASSIFIER)  # as TGDPParams: unset tclf_* take the clf_* value


def tiw_terms(clf: DomainClassifier, xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log w_t(x_t): (B,), grad_x log w_t(x_t): (B, ...)) with log w_t = -logit c'(x_t, t); detached."""
    with torch.enable_grad():
        x = xt.detach().requires_grad_(True)
        log_w = clf.log_ratio(x, t)
        (grad,) = torch.autograd.grad(log_w.sum(), x)
    return log_w.detach(), grad.detach()


def tiw_dsm_loss(eps_pred: torch.Tensor, eps: torch.Tensor, sigma: torch.Tensor, log_w: torch.Tensor,
                 grad_log_w: Optional[torch.Tensor], clip: float) -> torch.Tensor:
    """sum_i w_i ||eps_pred - (eps - sigma_t grad log w_t)||^2 / sum_i w_i, w = min(e^{log w}, clip mean)."""
    w = (log_w - log_w.max()).exp()  # the scale cancels in the self-normalisation
    w = torch.minimum(w, clip * w.mean())
    target = eps
    if grad_log_w is not None:
        target = eps - sigma.view((-1,) + (1,) * (eps.dim() - 1)) * grad_log_w
    err = (eps_pred - target).pow(2).flatten(1).mean(1)
    return (w * err).sum() / w.sum()


@register_method("tiw-dsm", "TIW-DSM (ICLR 2024, arXiv 2403.01189, alsdudrla10/TIW-DSM): source samples weighted "
                 "by w_t = exp(-logit c'(x_t,t)) with the score correction grad log w_t")
class TIWDSM(DenoiserMethod):
    source = "published"
    Params = TIWDSMParams

    def fit(self, ctx: FitContext) -> None:
        p, d = self.params, ctx.data
        clf = domain_classifier(ctx, p.time_classifier_config(), False, time=True).requires_grad_(False)
        model = source_denoiser(ctx, p).train()
        sched, gen = VPSchedule(), torch_generator(ctx.seed("train"))
        xs = d.source_x.to(ctx.device)
        batch = min(p.batch, len(xs))
        ess: list[torch.Tensor] = []

        def loss(_: int) -> torch.Tensor:
            x0 = xs[batch_index(len(xs), batch, gen).to(ctx.device)]
            t = sched.sample_t(len(x0), gen).to(ctx.device)
            eps = torch.randn(x0.shape, generator=gen).to(ctx.device)
            xt = sched.noise(x0, t, eps)
            log_w, grad = tiw_terms(clf, xt, t)
            w = (log_w - log_w.max()).exp()
            ess.append(w.sum() ** 2 / w.pow(2).sum() / len(w))
            return tiw_dsm_loss(model(xt, t, None), eps, sched.sigma(t), log_w, grad if p.correction else None,
                                p.weight_clip)

        with ctx.timed_cost("tiw-dsm", p.finetune_steps, 0):  # source batches: no target draws
            trace = optimise(model.parameters(), loss, p.finetune_steps, p.finetune_lr, ctx.progress, desc="tiw-dsm",
                             log=ctx.log)
        ctx.log.info("tiw-dsm trained: %d steps, final loss %.4f", p.finetune_steps,
                     sum(trace[-50:]) / max(1, len(trace[-50:])))
        ctx.diagnostics["tiw_batch_ess_frac"] = float(torch.stack(ess).mean()) if ess else float("nan")
        self._bind(ctx, model)
