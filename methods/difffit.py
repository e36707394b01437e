"""difffit: bias, norm and scale finetuning of the source model (DiffFit-style).

Source: "DiffFit: Unlocking Transferability of Large Diffusion Models via Simple
Parameter-Efficient Fine-Tuning", ICCV 2023, arXiv 2304.06648; code github.com/thuml/Diffusion-Tuning.

Only these train, on the n target samples by the usual DSM loss; every other weight stays the
source model's:
  - every bias (Linear, Conv1d, norm layers),
  - the affine parameters of the norm layers (GroupNorm / LayerNorm; the ECG U-Net has them,
    the vector MLP has none),
  - with ``scales = True``, a learnable per-output-channel scale gamma on every Linear / Conv1d
    weight, W' = diag(gamma) W, gamma initialised to 1 (DiffFit's scale factors, placed per layer
    here because the networks have no transformer blocks), merged into W before sampling.
So training starts at the source model.  A cheaper row beside ``lora``.  Budget: the shared
``finetune`` block's finetune_steps and target_batch (draws with replacement); its learning rate is DiffFit's own (10x the full
finetune rate in the paper), ``finetune_lr`` default 1e-3, kept per method in the suites as LoRA's.
"""

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from benchmark.api import FitContext
from benchmark.denoiser_methods import DenoiserMethod, FinetuneParams, source_denoiser
from benchmark.diffusion.training import fit_denoiser
from benchmark.registry import register_method
from benchmark.seeding import torch_generator
from benchmark.stage_configs import log_uniform, tunable

NORMS = (nn.GroupNorm, nn.LayerNorm, nn.BatchNorm1d)


@dataclass(frozen=True)
class DiffFitParams(FinetuneParams):
    finetune_lr: float = tunable(1e-3, log_uniform(1e-4, 1e-2))
    scales: bool = True


class ChannelScale(nn.Module):
    """The parametrisation W -> gamma * W with gamma: (out,) broadcast over W's other axes."""

    def __init__(self, out_features: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(out_features))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return self.gamma.view((-1,) + (1,) * (weight.dim() - 1)) * weight


def difffit_parameters(model: nn.Module, scales: bool = True) -> list[nn.Parameter]:
    """Freeze ``model``, then unfreeze biases and norm affines (and add channel scales); returns them."""
    for p in model.parameters():
        p.requires_grad_(False)
    train: list[nn.Parameter] = []
    for module in list(model.modules()):
        if isinstance(module, NORMS):
            train += [p for p in (module.weight, module.bias) if p is not None]
        elif isinstance(module, (nn.Linear, nn.Conv1d)):
            if module.bias is not None:
                train.append(module.bias)
            if scales:
                scale = ChannelScale(module.weight.shape[0]).to(module.weight.device)
                parametrize.register_parametrization(module, "weight", scale)
                train.append(scale.gamma)
    for p in train:
        p.requires_grad_(True)
    return train


def merge_scales(model: nn.Module) -> nn.Module:
    """Fold every channel scale into its weight and remove the parametrisation (in place)."""
    for module in list(model.modules()):
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return model


@register_method("difffit", "DiffFit-style (arXiv 2304.06648, thuml/Diffusion-Tuning): only biases, norms and "
                 "per-channel scales of the source model train on the target samples")
class DiffFit(DenoiserMethod):
    source = "published"
    Params = DiffFitParams

    def fit(self, ctx: FitContext) -> None:
        p, d = self.params, ctx.data
        model = copy.deepcopy(source_denoiser(ctx, p))
        params = difffit_parameters(model, p.scales)
        with ctx.timed_cost("difffit", p.finetune_steps, p.finetune_steps * p.target_batch):
            fit_denoiser(model, d.target_x, None, p.finetune_steps, p.target_batch, p.finetune_lr,
                         torch_generator(ctx.seed("train")), ctx.device, params=params, progress=ctx.progress,
                         desc="difffit", checkpoint=ctx.run_checkpoint("difffit"), log=ctx.log, with_replacement=True)
        ctx.diagnostics["trainable_params"] = float(sum(q.numel() for q in params))
        self._bind(ctx, merge_scales(model))
