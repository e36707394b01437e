"""A 1-D convolutional scalar network for multi-lead signals: domain classifiers and guidance.

``ScalarConv1d(sample_shape=(C, L), width, depth, time, num_classes)`` maps
x: (B, C, L) [, t: (B,)] [, y: (B,)] -> (B, 1):

    e = MLP(phi(t)) [+ E[y]]                         (time and/or label embedding, or none)
    h = StridedConv_k5(x)                            (B, width, L/2)
    for i in 0..depth-1:  h = StridedConv(ResBlock(h, e))      c_i = width 2^min(i, 2), halving L
    out = Linear(mean_L SiLU(GroupNorm(h)))          (B, 1)

It is the domain classifier c(x[, y]) (a logit, ``time=False``), the time-dependent
classifier c'(x_t, t) and the TGDP guidance network (log h or pre-softplus h,
``time=True``).  Built from Conv1d/Linear/GroupNorm only, so it is smooth in x
(needed for grad_x log h) and LoRA-compatible.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from benchmark.diffusion.layers import Embedding, ResBlock1d, group_norm


class ScalarConv1d(nn.Module):
    """x: (B, C, L) [, t: (B,)] [, y: (B,)] -> (B, 1); see the module docstring."""

    def __init__(self, sample_shape: tuple[int, ...], width: int = 32, depth: int = 3, time: bool = False,
                 num_classes: Optional[int] = None) -> None:
        super().__init__()
        if len(sample_shape) != 2 or width < 1 or depth < 1:
            raise ValueError(f"ScalarConv1d needs sample_shape (C, L), width >= 1 and depth >= 1; got "
                             f"{sample_shape}, {width}, {depth}")
        self.time, self.num_classes = time, num_classes
        emb_dim = 4 * width if (time or num_classes) else 0
        self.embed = Embedding(emb_dim, time, num_classes) if emb_dim else None
        self.inp = nn.Conv1d(int(sample_shape[0]), width, 5, stride=2, padding=2)
        self.blocks = nn.ModuleList()
        self.downsample = nn.ModuleList()
        prev = width
        for i in range(depth):
            c = width * 2 ** min(i, 2)
            self.blocks.append(ResBlock1d(prev, c, emb_dim))
            self.downsample.append(nn.Conv1d(c, c, 3, stride=2, padding=1))
            prev = c
        self.norm = group_norm(prev)
        self.head = nn.Linear(prev, 1)

    def forward(self, x: torch.Tensor, t: Optional[torch.Tensor] = None, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        emb = None if self.embed is None else self.embed(t if self.time else None, y)
        h = self.inp(x)
        for block, down in zip(self.blocks, self.downsample):
            h = down(block(h, emb))
        return self.head(F.silu(self.norm(h)).mean(-1))
