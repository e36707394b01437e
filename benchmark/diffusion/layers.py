"""Layers shared by the networks of :mod:`benchmark.diffusion.nets`, :mod:`~benchmark.diffusion.unet1d`
and :mod:`~benchmark.diffusion.conv1d` (this module imports none of them, so the three have no
import circle: nets -> unet1d, conv1d -> layers).

- ``sinusoidal_embedding(t, dim)``: phi(t): (B,) -> (B, dim), [sin(1000 t w_k), cos(1000 t w_k)],
  w_k = 10^(-4 k / (dim/2)).
- ``group_norm(c)``: GroupNorm with 8 groups when c allows it, else 1.
- ``ResBlock1d(c_in, c_out, emb_dim)``: (B, c_in, L), (B, E) -> (B, c_out, L),
  Skip(h) + Conv(SiLU(GN(Conv(SiLU(GN(h))) + W e))).
- ``Embedding(dim, time, num_classes)``: e = SiLU(MLP(phi(t)) [+ E[y]]): (B,), (B,) -> (B, dim).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """phi(t): (B,) -> (B, dim), geometric frequencies from 1 to 1e-4 on 1000 t."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


KERNEL = 3


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 8 groups when the channels allow it (else 1 group = LayerNorm over C, L)."""
    return nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)


class ResBlock1d(nn.Module):
    """Pre-activation residual block with an additive embedding: (B, c_in, L), (B, E) -> (B, c_out, L)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int = 0, kernel: int = KERNEL, dilation: int = 1) -> None:
        super().__init__()
        pad = dilation * (kernel // 2)
        self.norm1 = group_norm(c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, padding=pad, dilation=dilation)
        self.emb = nn.Linear(emb_dim, c_out) if emb_dim else None
        self.norm2 = group_norm(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=pad, dilation=dilation)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.emb is not None and emb is not None:
            h = h + self.emb(emb)[:, :, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Embedding(nn.Module):
    """e = MLP(phi(t)) [+ E[y]]: (B,), (B,) -> (B, dim), passed through SiLU; None if neither."""

    def __init__(self, dim: int, time: bool, num_classes: Optional[int]) -> None:
        super().__init__()
        self.dim = dim
        self.time = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim)) if time else None
        self.label = nn.Embedding(num_classes, dim) if num_classes else None

    def forward(self, t: Optional[torch.Tensor], y: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        emb = None
        if self.time is not None:
            if t is None:
                raise ValueError("this network is time-conditional; pass t")
            emb = self.time(sinusoidal_embedding(t, self.dim))
        if self.label is not None:
            if y is None:
                raise ValueError("this network is label-conditional; pass labels y")
            lab = self.label(y.long())
            emb = lab if emb is None else emb + lab
        return None if emb is None else F.silu(emb)
