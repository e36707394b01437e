"""Denoiser stages and the base class of methods that sample from a denoiser."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional

import torch
from torch import nn

from benchmark.params import bounds
from benchmark.api import FitContext, Method
from benchmark.diffusion.guidance import GradLogH, guided_eps
from benchmark.diffusion.nets import make_denoiser
from benchmark.diffusion.samplers import sample
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import fit_denoiser
from benchmark.seeding import derive_seed, seed_everything, torch_generator
from benchmark.spec import short_hash
from benchmark.stage_configs import log_uniform, tunable


@dataclass(frozen=True)
class DenoiserParams:
    """The denoiser and its source training (the ``denoiser`` budget block); defaults follow the
    paper's reproduction (a 4x512 SiLU MLP, Adam lr 1e-4, batch 4096, 500 source epochs, 25-step
    DPM-Solver-2).  For ECG tasks ``width`` is the U-Net's base channels and ``depth`` its levels.
    The shared source model is a given pretrained model: none of these fields is tuned."""

    BLOCKS: ClassVar[tuple[str, ...]] = ("denoiser",)
    width: int = 512
    depth: int = 4
    lr: float = 1e-4
    batch: int = 4096
    source_epochs: int = field(default=500, metadata=bounds(ge=0))  # 0: no source training
    ema: float = field(default=0.0, metadata=bounds(ge=0, lt=1))
    sampler: Literal["dpm2", "dpm1", "euler"] = "dpm2"
    sample_steps: int = 25

    def __post_init__(self) -> None:
        # batch=0 trained nothing (empty batches, zero gradients) and sample_steps=0 returned the
        # initial noise, both as "done" runs; reject such values when the spec is planned.
        low = {"width": 1, "depth": 1, "batch": 1, "sample_steps": 1, "source_epochs": 0}
        bad = [f"{k}={getattr(self, k)!r} (needs >= {m})" for k, m in low.items() if getattr(self, k) < m]
        if not self.lr > 0:
            bad.append(f"lr={self.lr!r} (needs > 0)")
        if not 0.0 <= self.ema < 1.0:
            bad.append(f"ema={self.ema!r} (needs 0 <= ema < 1)")
        if bad:
            raise ValueError("; ".join(bad))

    def arch(self) -> dict[str, Any]:
        return {"width": self.width, "depth": self.depth}

    def source_training(self) -> dict[str, Any]:
        return {"lr": self.lr, "batch": self.batch, "source_epochs": self.source_epochs, "ema": self.ema}


#: the batch rule of every adaptation stage on the n target samples (part of those stages' cache keys)
TARGET_BATCHES = "with-replacement"


@dataclass(frozen=True)
class TargetBatch:
    """The one batch size of adaptation on the n target samples (DESIGN.md §8, equal budget): every
    stage that trains on them draws ``target_batch`` target points per step with replacement, each
    with its own fresh (t, eps) (never capped at n).  A field of the ``finetune`` and ``scratch``
    blocks (:class:`FinetuneParams`, :class:`ScratchParams`, LoRA's Params); the suites set it to
    their classifier and guidance batches, so every adaptation stage of a suite draws alike.  The
    source model's training keeps ``batch``."""

    target_batch: int = field(default=256, metadata=bounds(ge=1))


@dataclass(frozen=True)
class ScratchParams(DenoiserParams, TargetBatch):
    """Training from a random init on the n target samples (``scratch``, ``scratch-cond``)."""

    BLOCKS: ClassVar[tuple[str, ...]] = ("scratch",)
    steps: int = 2000
    scratch_lr: float = tunable(1e-3, log_uniform(1e-4, 1e-2))


@dataclass(frozen=True)
class FinetuneParams(DenoiserParams, TargetBatch):
    """Denoiser parameters plus the finetuning budget on the target samples."""

    BLOCKS: ClassVar[tuple[str, ...]] = ("finetune",)
    finetune_steps: int = 1000
    finetune_lr: float = tunable(1e-4, log_uniform(1e-5, 1e-2))


def stage_seed(ctx: FitContext, stage: str, key: dict[str, Any]) -> int:
    """A seed from the stage's own key (shared by every method that uses the stage)."""
    return derive_seed(ctx.spec.suite_seed, "train", stage, short_hash(key))


def _build(ctx: FitContext, p: DenoiserParams, conditional: bool) -> nn.Module:
    return make_denoiser(ctx.data.kind, ctx.data.sample_shape, p.width, p.depth,
                         ctx.data.num_classes if conditional else None)


def _train_new(ctx: FitContext, stage: str, key: dict[str, Any], p: DenoiserParams, x: torch.Tensor,
               y: Optional[torch.Tensor], steps: int, lr: float, batch: int, conditional: bool,
               weights: Optional[torch.Tensor] = None, init: Optional[nn.Module] = None,
               with_replacement: bool = False) -> dict[str, Any]:
    seed = stage_seed(ctx, stage, key)
    seed_everything(seed)
    model = _build(ctx, p, conditional) if init is None else copy.deepcopy(init)
    trace = fit_denoiser(model, x, y if conditional else None, steps, batch, lr, torch_generator(seed), ctx.device,
                         weights=weights, ema_decay=p.ema, progress=ctx.progress, desc=stage,
                         checkpoint=ctx.stage_checkpoint(stage, key), log=ctx.log, with_replacement=with_replacement)
    ctx.log.info("%s trained: %d steps, final loss %.4f", stage, steps, sum(trace[-50:]) / max(1, len(trace[-50:])))
    return {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "final_loss": trace[-1] if trace else None}


def _load(ctx: FitContext, p: DenoiserParams, conditional: bool, payload: dict[str, Any]) -> nn.Module:
    model = _build(ctx, p, conditional)
    model.load_state_dict(payload["state"])
    return model.to(ctx.device).eval()


def source_key(ctx: FitContext, p: DenoiserParams, conditional: bool) -> dict[str, Any]:
    return {"data": ctx.data.source_key, "kind": ctx.data.kind, "arch": p.arch(), "train": p.source_training(),
            "conditional": conditional}


def source_denoiser(ctx: FitContext, p: DenoiserParams, conditional: bool = False) -> nn.Module:
    """eps_theta trained on the source pool; cached per (task data, trial, params)."""
    key = source_key(ctx, p, conditional)
    x, y = ctx.data.source_x, ctx.data.source_y if conditional else None  # read even on a cache hit
    steps = p.source_epochs * math.ceil(len(x) / p.batch)
    payload = ctx.cache.get_or_build("source", key, lambda: _train_new(
        ctx, "source", key, p, x, y, steps, p.lr, p.batch, conditional))
    ctx.add_cached_cost("source", key, steps, 0)
    return _load(ctx, p, conditional, payload)


def finetuned_denoiser(ctx: FitContext, p: FinetuneParams, steps: int, lr: float, conditional: bool = False) -> nn.Module:
    """All weights of the source model trained further on the n target samples (cached); batches of
    ``p.target_batch`` target draws with replacement."""
    key = {"source": source_key(ctx, p, conditional), "target": ctx.data.target_key, "steps": steps, "lr": lr,
           "target_batch": p.target_batch, "batches": TARGET_BATCHES}
    init = source_denoiser(ctx, p, conditional)
    x, y = ctx.data.target_x, ctx.data.target_y if conditional else None  # read even on a cache hit
    payload = ctx.cache.get_or_build("finetune", key, lambda: _train_new(
        ctx, "finetune", key, p, x, y, steps, lr, p.target_batch, conditional, init=init, with_replacement=True))
    ctx.add_cached_cost("finetune", key, steps, steps * p.target_batch)
    return _load(ctx, p, conditional, payload)


def trained_denoiser(ctx: FitContext, stage: str, p: DenoiserParams, x: torch.Tensor, y: Optional[torch.Tensor],
                     data_key: str, steps: int, lr: float, conditional: bool = False,
                     weights: Optional[torch.Tensor] = None, init: Optional[nn.Module] = None,
                     extra_key: Optional[dict[str, Any]] = None, target_batch: Optional[int] = None) -> nn.Module:
    """A denoiser trained on (x, y) from scratch or from ``init``; cached under ``stage``.

    ``target_batch``: (x, y) are the n target samples, drawn ``target_batch`` per step with
    replacement (the adaptation rule); None: batches of min(p.batch, len(x)) (training on the
    source pool or the oracle pool, whose draws are not target draws)."""
    key = {"data": data_key, "kind": ctx.data.kind, "arch": p.arch(), "steps": steps, "lr": lr,
           "batch": p.batch, "ema": p.ema, "conditional": conditional, **(extra_key or {})}
    if target_batch is not None:
        key.update(batch=target_batch, batches=TARGET_BATCHES)
    batch = min(p.batch, len(x)) if target_batch is None else target_batch
    payload = ctx.cache.get_or_build(stage, key, lambda: _train_new(
        ctx, stage, key, p, x, y, steps, lr, batch, conditional, weights=weights, init=init,
        with_replacement=target_batch is not None))
    ctx.add_cached_cost(stage, key, steps, 0 if target_batch is None else steps * target_batch)
    return _load(ctx, p, conditional, payload)


class DenoiserMethod(Method):
    """A method that ends with a denoiser ``self.model`` (and optional guidance)."""

    Params = DenoiserParams
    model: nn.Module
    device: torch.device
    shape: tuple[int, ...]
    grad_log_h: Optional[GradLogH] = None
    gamma: float = 1.0
    lagged_guidance: bool = False

    def _bind(self, ctx: FitContext, model: nn.Module) -> None:
        self.model, self.device, self.shape = model.to(ctx.device).eval(), ctx.device, ctx.data.sample_shape

    def eps(self, x: torch.Tensor, t: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        return self.model(x, t, labels if self.conditional else None)

    predicts_noise = True

    def noise_prediction(self, x: torch.Tensor, t: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        """eps_guided = eps(x_t, t) - gamma sigma_t grad log h(x_t, t) (:func:`guided_eps`), the
        predictor the sampler integrates (exactly: lagged guidance only changes where in a
        solver step grad log h is evaluated)."""
        eps = self.eps(x, t, labels)
        if self.grad_log_h is None or self.gamma == 0.0:
            return eps
        return guided_eps(eps, self.grad_log_h(x, t, labels), VPSchedule().sigma(t), self.gamma)

    def sample(self, n: int, labels: Optional[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
        p = self.params
        return sample(self.eps, self.shape, n, generator, self.device, p.sampler, p.sample_steps, labels,
                      self.grad_log_h, self.gamma, lagged_guidance=self.lagged_guidance)
