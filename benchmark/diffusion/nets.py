"""Networks on vectors: a time- (and optionally label-) conditioned SiLU MLP.

``TimeMLP(in_dim, out_dim)`` maps x: (B, in_dim), t: (B,) [, y: (B,)] -> (B, out_dim):
    e = SiLU(W_t phi(t) [+ E[y]]),  phi(t) = [sin(1000 t w_k), cos(1000 t w_k)]
    h_0 = [x, e];  h_{l+1} = SiLU(W_l h_l + b_l)  (depth layers of width)
    out = W_out h_depth
It is the eps-prediction denoiser (out_dim = d), the domain classifier (no time,
out_dim = 1, a logit) and the guidance network (out_dim = 1, log h).
The ECG task family provides 1-D convolutional counterparts through the same factory.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from benchmark.diffusion.conv1d import ScalarConv1d
from benchmark.diffusion.layers import sinusoidal_embedding
from benchmark.diffusion.unet1d import UNet1d


class TimeMLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, width: int = 512, depth: int = 4, time: bool = True,
                 num_classes: Optional[int] = None, embed_dim: int = 64) -> None:
        super().__init__()
        self.time, self.embed_dim, self.num_classes = time, embed_dim, num_classes
        cond = embed_dim if (time or num_classes) else 0
        self.time_proj = nn.Linear(embed_dim, embed_dim) if time else None
        self.label_embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        layers: list[nn.Module] = []
        dim = in_dim + cond
        for _ in range(depth):
            layers += [nn.Linear(dim, width), nn.SiLU()]
            dim = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(dim, out_dim)

    def forward(self, x: torch.Tensor, t: Optional[torch.Tensor] = None, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = x.flatten(1)
        parts = [x]
        emb = None
        if self.time_proj is not None:
            emb = self.time_proj(sinusoidal_embedding(t, self.embed_dim))
        if self.label_embed is not None:
            if y is None:
                raise ValueError("this network is label-conditional; pass labels y")
            le = self.label_embed(y.long())
            emb = le if emb is None else emb + le
        if emb is not None:
            parts.append(nn.functional.silu(emb))
        return self.head(self.body(torch.cat(parts, dim=1)))


class EpsMLP(TimeMLP):
    """eps_theta(x_t, t[, y]) for vectors x: (B, d)."""

    def __init__(self, dim: int, width: int = 512, depth: int = 4, num_classes: Optional[int] = None) -> None:
        super().__init__(dim, dim, width, depth, time=True, num_classes=num_classes)


def make_denoiser(kind: str, sample_shape: tuple[int, ...], width: int, depth: int,
                  num_classes: Optional[int] = None) -> nn.Module:
    """The eps-prediction network for a data kind (``vector`` or ``ecg``)."""
    if kind == "vector":
        return EpsMLP(int(sample_shape[0]), width, depth, num_classes)
    if kind == "ecg":
        return UNet1d(sample_shape, base=width, levels=depth, num_classes=num_classes)
    raise ValueError(f"no denoiser for data kind {kind!r}")


def make_scalar_net(kind: str, sample_shape: tuple[int, ...], width: int, depth: int, time: bool,
                    num_classes: Optional[int] = None) -> nn.Module:
    """A network x[, t][, y] -> (B, 1): domain classifiers (logits) and guidance (log h)."""
    if kind == "vector":
        return TimeMLP(int(sample_shape[0]), 1, width, depth, time=time, num_classes=num_classes)
    if kind == "ecg":
        return ScalarConv1d(sample_shape, width=width, depth=depth, time=time, num_classes=num_classes)
    raise ValueError(f"no scalar network for data kind {kind!r}")
