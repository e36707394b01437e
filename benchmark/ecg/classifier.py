"""A small xresnet1d-style ECG classifier, its training loop and its penultimate features.

``ResNet1d(in_channels=12, num_classes=9, width)`` maps x: (B, 12, L) -> logits (B, K):

    stem   Conv(k=7, stride 2) -> BN -> ReLU -> MaxPool(3, stride 2)        (B, w, L/4)
    blocks BasicBlock(w -> w), BasicBlock(w -> 2w, stride 2), BasicBlock(2w -> 2w, stride 2)
           BasicBlock(h) = ReLU(BN(Conv(ReLU(BN(Conv(h))))) + shortcut(h)), kernel 5
    pool   concat(mean_L h, max_L h)                                        (B, 4w)  = features
    head   Linear(4w -> K)

(the layout of the xresnet1d / ResNet1d baselines of Strodthoff et al. 2020, scaled down
so it trains in seconds on a CPU).  Training minimises the softmax cross-entropy of the
single ICBEB label with AdamW and a cosine learning-rate decay for a fixed number of
steps; mini-batches and initialisation come from one seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from benchmark.diffusion.training import batch_index
from benchmark.seeding import seed_everything, torch_generator


@dataclass(frozen=True)
class ECGClassifierConfig:
    """Width and training budget of a :class:`ResNet1d` (steps of ``batch`` records)."""

    width: int = 32
    steps: int = 200
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-2

    def __post_init__(self) -> None:
        if min(self.width, self.steps, self.batch) < 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("classifier width, steps and batch must be >= 1, lr > 0 and weight_decay >= 0")


class BasicBlock1d(nn.Module):
    """(B, c_in, L) -> (B, c_out, L / stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, kernel: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=kernel // 2, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.shortcut = nn.Identity() if (c_in == c_out and stride == 1) else nn.Sequential(
            nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNet1d(nn.Module):
    """x: (B, C, L) -> logits (B, K); ``features(x)`` -> (B, 4 width)."""

    def __init__(self, in_channels: int = 12, num_classes: int = 9, width: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(in_channels, width, 7, stride=2, padding=3, bias=False),
                                  nn.BatchNorm1d(width), nn.ReLU(), nn.MaxPool1d(3, stride=2, padding=1))
        self.blocks = nn.Sequential(BasicBlock1d(width, width), BasicBlock1d(width, 2 * width, stride=2),
                                    BasicBlock1d(2 * width, 2 * width, stride=2))
        self.head = nn.Linear(4 * width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x))
        return torch.cat([h.mean(-1), h.amax(-1)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def train_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int, cfg: ECGClassifierConfig, seed: int,
                     device: torch.device | str = "cpu") -> ResNet1d:
    """Train a fresh :class:`ResNet1d` on x: (N, C, L), y: (N,) int; returns it in eval mode.

    The same ``seed`` gives the same initialisation and, for the same N, the same
    mini-batch indices, so two classifiers trained on equally many records differ only
    through their data.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many labels as records (got {len(x)} records, {len(y)} labels)")
    seed_everything(seed)
    model = ResNet1d(x.shape[1], num_classes, cfg.width).to(device)
    gen = torch_generator(seed)
    # foreach=True: the multi-tensor AdamW, the same bits as the per-parameter loop (issue 11)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    lr_at = lambda step: 0.5 * (1.0 + math.cos(math.pi * step / cfg.steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    x, y = x.to(device), y.long().to(device)
    model.train()
    for _ in range(cfg.steps):
        idx = batch_index(len(x), cfg.batch, gen).to(device)
        if len(idx) < 2:  # BatchNorm needs two records
            idx = torch.cat([idx, idx])
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def predict_proba(model: ResNet1d, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """Softmax class probabilities (N, K) on the CPU, in float64."""
    device = next(model.parameters()).device
    return torch.cat([F.softmax(model(x[i:i + batch].to(device)), dim=1).cpu() for i in range(0, len(x), batch)]).double()


@torch.no_grad()
def features(model: ResNet1d, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """Penultimate features (N, 4 width) on the CPU, in float64."""
    device = next(model.parameters()).device
    return torch.cat([model.features(x[i:i + batch].to(device)).cpu() for i in range(0, len(x), batch)]).double()
