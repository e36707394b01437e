"""Cached TGDP stages: the domain classifier, the time-dependent classifier and the
guidance network, each keyed by everything it depends on and seeded from that key.

Hyper-parameters shared by every TGDP method (:class:`TGDPParams`), each stage's fields
generated from its one config in :mod:`benchmark.stage_configs`:
``clf_*`` the time-free domain classifier c(x) (``clf_input_noise``, ``clf_val_frac``:
regularisation, off by default); ``tclf_*`` the time-dependent classifier c'(x_t, t)
(the cycle regulariser's target and tgdp-tclf's guidance), with its own size and budget
(each unset field takes the ``clf_*`` value, resolved at construction so the record holds
the number: the cycle regulariser's c' used the c(x) configuration before these existed);
``guid_*`` the guidance network; ``guidance_loss`` its estimator (``l2`` | ``log`` |
``logistic-resampled``, see :mod:`benchmark.tgdp.guidance_net`); ``gamma`` and
``lagged_guidance`` how guided samples are drawn.

``ratio_target`` is the older name of the ``l2``/``log`` choice, kept so existing suites and
command lines resolve: ``ratio_target=ratio`` means ``guidance_loss=l2`` and
``ratio_target=log`` means ``guidance_loss=log``.  It is folded into ``guidance_loss`` at
construction (and reset to None), so the resolved hyper-parameters hold one knob; giving
both with different meanings is an error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, Optional

import torch

from benchmark.api import FitContext
from benchmark.denoiser_methods import TARGET_BATCHES, DenoiserParams, source_denoiser, source_key, stage_seed
from benchmark.seeding import seed_everything, torch_generator
from benchmark.stage_configs import (CLASSIFIER, GUIDANCE, GUIDANCE_NET, TIME_CLASSIFIER, fill_inherited, flat_fields, tunable,
                                     uniform)
from benchmark.tgdp.classifier import (ClassifierConfig, DomainClassifier, build_classifier, target_draws_per_step,
                                       train_classifier)
from benchmark.tgdp.guidance_net import GuidanceConfig, GuidanceNet, build_guidance, train_guidance

RATIO_TARGET_ALIAS = {"ratio": "l2", "log": "log"}


#: the saved fields of each stage, generated from its config (benchmark.stage_configs)
ClassifierFields = flat_fields(CLASSIFIER, "ClassifierFields")
TimeClassifierFields = flat_fields(TIME_CLASSIFIER, "TimeClassifierFields", optional=True)
GuidanceFields = flat_fields(GUIDANCE, "GuidanceFields")
#: the guidance network's size and budget alone (a network of that size with another objective: DEFT)
GuidanceNetFields = flat_fields(GUIDANCE_NET, "GuidanceNetFields")


@dataclass(frozen=True)
class GuidedSamplingFields:
    """How a guided method samples: the guidance scale and lagged guidance (the
    ``guided_sampling`` budget block)."""

    BLOCKS: ClassVar[tuple[str, ...]] = ("guided_sampling",)
    gamma: float = tunable(1.0, uniform(0.25, 4.0), ge=0)
    lagged_guidance: bool = False  # one grad log h per DPM-Solver-2 step (ours; benchmark.diffusion.samplers)


@dataclass(frozen=True)
class TGDPParams(DenoiserParams, ClassifierFields, TimeClassifierFields, GuidanceFields, GuidedSamplingFields):
    """TGDP: source denoiser + domain classifier + guidance network (+ regularisers)."""

    ratio_target: Optional[Literal["ratio", "log"]] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lagged_guidance and self.sampler != "dpm2":
            raise ValueError(f"lagged_guidance=True needs sampler='dpm2', not {self.sampler!r}")
        fill_inherited(self, TIME_CLASSIFIER)  # unset tclf_*: the time-free classifier's value
        if self.ratio_target is not None:
            alias = RATIO_TARGET_ALIAS[self.ratio_target]
            if self.guidance_loss not in ("l2", alias):
                raise ValueError(f"ratio_target={self.ratio_target} (= guidance_loss={alias}) contradicts "
                                 f"guidance_loss={self.guidance_loss}; set guidance_loss only")
            object.__setattr__(self, "guidance_loss", alias)
            object.__setattr__(self, "ratio_target", None)


def _labels(ctx: FitContext, conditional: bool) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    d = ctx.data
    return (d.source_y, d.target_y) if conditional else (None, None)


_REG_DEFAULTS = {"input_noise": 0.0, "val_frac": 0.0, "val_every": 50}


def classifier_key(ctx: FitContext, cfg: ClassifierConfig, conditional: bool, time: bool) -> dict[str, Any]:
    """The stage's identity (and seed).  Regularisation fields at their (off) defaults are
    left out, so a classifier trained before they existed keeps its key and seed."""
    key = {"source": ctx.data.source_key, "target": ctx.data.target_key, "kind": ctx.data.kind,
           "config": classifier_config_key(cfg), "conditional": conditional, "time": time}
    # batches drawn with replacement (c' since the batch-cap fix, c(x) since the equal-budget rule):
    # never reuse a classifier trained on capped batches
    key["batches"] = TARGET_BATCHES
    return key


def _classifier_cost(ctx: FitContext, cfg: ClassifierConfig, key: dict[str, Any], time: bool,
                     target_mix: float = 0.0) -> None:
    d = ctx.data
    per_step = target_draws_per_step(cfg, len(d.source_x), len(d.target_x), target_mix)
    ctx.add_cached_cost("time-classifier" if time else "classifier", key, cfg.steps, round(cfg.steps * per_step))


def classifier_config_key(cfg: ClassifierConfig) -> dict[str, Any]:
    """asdict(cfg) without the regularisation fields that are at their (off) defaults."""
    return {k: v for k, v in asdict(cfg).items() if _REG_DEFAULTS.get(k, object()) != v}


def guidance_config_key(cfg: GuidanceConfig) -> dict[str, Any]:
    """asdict(cfg) with ``l2``/``log`` written as the older ``ratio_target`` ratio/log, so the
    published rows' guidance stages keep their keys and seeds."""
    config = asdict(cfg)
    loss = config.pop("guidance_loss")
    legacy = {v: k for k, v in RATIO_TARGET_ALIAS.items()}
    out = {k: v for k, v in config.items() if k not in ("eta_cycle", "eta_consistency")}
    if loss in legacy:
        out["ratio_target"] = legacy[loss]
    else:
        out["guidance_loss"] = loss
    out.update(eta_cycle=config["eta_cycle"], eta_consistency=config["eta_consistency"])
    return out


def domain_classifier(ctx: FitContext, cfg: ClassifierConfig, conditional: bool = False,
                      time: bool = False, target_mix: float = 0.0, mix_log_r: Optional[torch.Tensor] = None,
                      mix_key: Any = None) -> DomainClassifier:
    """c(x) (or the joint c(x, y), or the time-dependent c'(x_t, t)); cached.

    ``target_mix`` > 0 (time-dependent only): that fraction of each target batch is source
    samples resampled in proportion to exp(``mix_log_r``) (m,), identified by ``mix_key``."""
    d = ctx.data
    key = classifier_key(ctx, cfg, conditional, time)
    if target_mix > 0:
        key = {**key, "target_mix": target_mix, "mix_ratio": mix_key}
    num_classes = d.num_classes if conditional else None

    def make() -> DomainClassifier:
        return build_classifier(d.kind, d.sample_shape, cfg, time, num_classes, len(d.source_x), len(d.target_x))

    def build() -> dict[str, Any]:
        seed = stage_seed(ctx, "classifier", key)
        seed_everything(seed)
        clf = make()
        ys, yt = _labels(ctx, conditional)
        mix_w = None if mix_log_r is None else (mix_log_r.double() - mix_log_r.double().max()).exp()
        train_classifier(clf, cfg, d.source_x, d.target_x, torch_generator(seed), ctx.device, ys, yt, ctx.progress,
                         checkpoint=ctx.stage_checkpoint("time-classifier" if time else "classifier", key),
                         target_mix=target_mix, mix_weights=mix_w)
        return {"state": {k: v.cpu() for k, v in clf.state_dict().items()}}

    stage = "time-classifier" if time else "classifier"
    payload = ctx.cache.get_or_build(stage, key, build)
    _classifier_cost(ctx, cfg, key, time, target_mix)
    clf = make()
    clf.load_state_dict(payload["state"])
    return clf.to(ctx.device).eval()


@torch.no_grad()
def source_log_ratios(ctx: FitContext, clf: DomainClassifier, conditional: bool, batch: int = 4096) -> torch.Tensor:
    """log r̂(x_0) for every source sample: (m,)."""
    d = ctx.data
    ys, _ = _labels(ctx, conditional)
    out = []
    for i in range(0, len(d.source_x), batch):
        x = d.source_x[i:i + batch].to(ctx.device)
        y = None if ys is None else ys[i:i + batch].to(ctx.device)
        out.append(clf.log_ratio(x, None, y).cpu())
    return torch.cat(out)


def guidance_network(ctx: FitContext, p: TGDPParams, log_r_src: torch.Tensor, ratio_key: Any,
                     conditional: bool = False) -> GuidanceNet:
    """h_psi regressed onto r̂ (identified by ``ratio_key``) with the configured regularisers; cached."""
    d = ctx.data
    cfg = p.guidance_config()
    ys, yt = _labels(ctx, conditional)
    key: dict[str, Any] = {"source": d.source_key, "target": d.target_key, "kind": d.kind, "ratio": ratio_key,
                           "config": guidance_config_key(cfg), "conditional": conditional}
    if cfg.eta_cycle > 0:
        key["time_classifier"] = classifier_key(ctx, p.time_classifier_config(), conditional, time=True)
    if cfg.eta_consistency > 0:
        key["denoiser"] = source_key(ctx, p, conditional)
    num_classes = d.num_classes if conditional else None

    def build() -> dict[str, Any]:
        tclf = domain_classifier(ctx, p.time_classifier_config(), conditional, time=True) if cfg.eta_cycle > 0 else None
        eps_fn = None
        if cfg.eta_consistency > 0:
            model = source_denoiser(ctx, p, conditional).requires_grad_(False)
            eps_fn = (lambda x, t, y: model(x, t, y)) if conditional else (lambda x, t, y: model(x, t, None))
        seed = stage_seed(ctx, "guidance", key)
        seed_everything(seed)
        h = build_guidance(d.kind, d.sample_shape, cfg, num_classes)
        train_guidance(h, cfg, d.source_x, log_r_src, torch_generator(seed), ctx.device, ys, d.target_x, yt,
                       tclf, eps_fn, ctx.progress, checkpoint=ctx.stage_checkpoint("guidance", key))
        return {"state": {k: v.cpu() for k, v in h.state_dict().items()}}

    payload = ctx.cache.get_or_build("guidance", key, build)
    regularised = cfg.eta_cycle > 0 or cfg.eta_consistency > 0  # target batches of guid_batch draws a step
    ctx.add_cached_cost("guidance", key, cfg.steps, cfg.steps * cfg.batch if regularised else 0)
    if cfg.eta_cycle > 0:  # its c' counts even when the guidance stage was reused without loading it
        _classifier_cost(ctx, p.time_classifier_config(), key["time_classifier"], time=True)
    h = build_guidance(d.kind, d.sample_shape, cfg, num_classes)
    h.load_state_dict(payload["state"])
    return h.to(ctx.device).eval()
