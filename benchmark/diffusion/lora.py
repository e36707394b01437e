"""LoRA on ``torch.nn.utils.parametrize`` (peft is only a test oracle).

For a frozen base weight W (Linear: (out, in); Conv1d: (out, in, k)) the adapted weight is

    W' = W + (alpha / r) * reshape(B @ A),   A: (r, in * k),  B: (out, r),  B = 0 at start,

so the adapted network equals the base network before training.  A is initialised like
peft (Kaiming-uniform with a = sqrt(5)).  Only A and B train.  :func:`merge_lora` folds
the update into the weights and removes the parametrisation.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.nn.utils import parametrize

TARGETS = (nn.Linear, nn.Conv1d)


class LoRADelta(nn.Module):
    """The parametrisation W -> W + (alpha/r) B A (reshaped to W's shape)."""

    def __init__(self, weight_shape: torch.Size, rank: int, alpha: float, generator: Optional[torch.Generator] = None):
        super().__init__()
        out_f = weight_shape[0]
        in_f = int(math.prod(weight_shape[1:]))
        self.rank, self.alpha, self.scale = rank, alpha, alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, in_f))
        self.lora_B = nn.Parameter(torch.zeros(out_f, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=generator)

    def delta(self, shape: torch.Size) -> torch.Tensor:
        return (self.scale * (self.lora_B @ self.lora_A)).view(shape)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.delta(weight.shape)


def apply_lora(model: nn.Module, rank: int, alpha: float, generator: Optional[torch.Generator] = None,
               targets: tuple[type, ...] = TARGETS) -> list[nn.Parameter]:
    """Freeze ``model`` and add LoRA to every Linear/Conv1d weight; returns the adapter params."""
    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    for p in model.parameters():
        p.requires_grad_(False)
    adapters: list[nn.Parameter] = []
    for module in list(model.modules()):
        if isinstance(module, targets) and not parametrize.is_parametrized(module, "weight"):
            delta = LoRADelta(module.weight.shape, rank, alpha, generator).to(module.weight.device)
            parametrize.register_parametrization(module, "weight", delta)
            adapters += [delta.lora_A, delta.lora_B]
    return adapters


def lora_modules(model: nn.Module) -> dict[str, LoRADelta]:
    """Qualified module name -> its LoRADelta."""
    out = {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            for p in module.parametrizations.weight:
                if isinstance(p, LoRADelta):
                    out[name] = p
    return out


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold W + (alpha/r) B A into plain weights (in place) and drop the parametrisations."""
    for module in list(model.modules()):
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return model
