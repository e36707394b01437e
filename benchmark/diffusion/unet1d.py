"""A 1-D convolutional U-Net noise predictor for multi-lead signals (the ECG backbone).

``UNet1d(sample_shape=(C, L), base, levels, num_classes)`` maps
x_t: (B, C, L), t: (B,) [, y: (B,)] -> eps_hat: (B, C, L).

    e      = MLP(phi(t)) [+ E[y]]                        (B, 4 base)  time/label embedding
    h      = Conv(x)                                     (B, base, L)
    down:  level i = 0..levels-1 with c_i = base 2^i:
           h = ResBlock(h, e) -> skip_i;  h = StridedConv(h) (L -> L/2) except at the bottom
    middle two ResBlocks at c_{levels-1}, dilations 2 and 4 (a wider receptive field)
    up:    level i = levels-1..0:  h = ResBlock([h, skip_i], e);  h = Conv(Upsample_x2(h)) except at i = 0
    eps    = sigma_t x_t + Conv(SiLU(GroupNorm(h)))      (B, C, L)

    ResBlock(h, e) = Skip(h) + Conv(SiLU(GN(Conv(SiLU(GN(h))) + W e)))

The fixed skip sigma_t x_t is the optimal noise prediction E[eps | x_t] for unit-variance
white data (x_t = alpha_t x_0 + sigma_t eps, alpha_t^2 + sigma_t^2 = 1), the
preconditioning of Karras et al. (2022, c_skip) written for eps-prediction: the network
learns the residual, the zero-initialised output makes the untrained model that Gaussian
denoiser, and short trainings do not have to learn the identity map eps ~ x_t at high
noise (whose errors the sampler amplifies by sigma_t / alpha_t; ~150 at t = 1).  The
ECG tasks scale records to about unit variance.  ``gaussian_skip=False`` removes it.

Every learnable map is a ``Conv1d`` or ``Linear`` (upsampling is nearest-neighbour
followed by a convolution, not a transposed convolution), so LoRA
(:mod:`benchmark.diffusion.lora`) adapts every layer but the norms and the label table.
Kernels have size 3 (a 2-core CPU budget); the levels and the dilated middle blocks give
the convolutions a receptive field of 169 samples (1.7 s at 100 Hz, two beats) for 3
levels, and GroupNorm adds record-wide statistics.  Inputs whose length is
not a multiple of 2^(levels-1) are zero-padded on the right and the output is cropped.

``base=16, levels=3`` (channels 16/32/64) has about 170k parameters.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from benchmark.diffusion.layers import KERNEL, Embedding, ResBlock1d, group_norm
from benchmark.diffusion.schedule import VPSchedule


class UNet1d(nn.Module):
    """eps_theta(x_t, t[, y]) for x: (B, C, L); see the module docstring."""

    def __init__(self, sample_shape: tuple[int, ...], base: int = 16, levels: int = 3,
                 num_classes: Optional[int] = None, gaussian_skip: bool = True,
                 schedule: VPSchedule = VPSchedule()) -> None:
        super().__init__()
        if len(sample_shape) != 2 or base < 1 or levels < 1:
            raise ValueError(f"UNet1d needs sample_shape (C, L), base >= 1 and levels >= 1; got {sample_shape}, "
                             f"{base}, {levels}")
        channels_in = int(sample_shape[0])
        chans = [base * 2**i for i in range(levels)]
        emb_dim = 4 * base
        self.levels, self.num_classes = levels, num_classes
        self.gaussian_skip, self.schedule = gaussian_skip, schedule
        self.embed = Embedding(emb_dim, time=True, num_classes=num_classes)
        self.inp = nn.Conv1d(channels_in, chans[0], KERNEL, padding=KERNEL // 2)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        prev = chans[0]
        for i, c in enumerate(chans):
            self.down.append(ResBlock1d(prev, c, emb_dim))
            if i < levels - 1:
                self.downsample.append(nn.Conv1d(c, c, 3, stride=2, padding=1))
            prev = c
        self.mid = nn.ModuleList([ResBlock1d(prev, prev, emb_dim, dilation=2), ResBlock1d(prev, prev, emb_dim, dilation=4)])
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(levels)):
            self.up.append(ResBlock1d(2 * chans[i], chans[i], emb_dim))
            if i > 0:
                self.upsample.append(nn.Conv1d(chans[i], chans[i - 1], 3, padding=1))
        self.out_norm = group_norm(chans[0])
        self.out = nn.Conv1d(chans[0], channels_in, KERNEL, padding=KERNEL // 2)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        length = x.shape[-1]
        mult = 2 ** (self.levels - 1)
        pad = (-length) % mult
        emb = self.embed(t, y)
        h = self.inp(F.pad(x, (0, pad)) if pad else x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < self.levels - 1:
                h = self.downsample[i](h)
        for block in self.mid:
            h = block(h, emb)
        for j, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if j < self.levels - 1:
                h = self.upsample[j](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        eps = self.out(F.silu(self.out_norm(h)))[..., :length]
        if self.gaussian_skip:
            eps = eps + self.schedule.sigma(t.to(x.dtype)).view(-1, 1, 1) * x
        return eps
