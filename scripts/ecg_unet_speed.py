"""Measurement only (issue 24, item 4): where a quick ecg-synth U-Net training step could get faster.

    python scripts/ecg_unet_speed.py [--threads 1] [--repeats 5] [--steps 10] [--ks 1 4 8]

At the quick ecg-synth size (x: (64, 8, 256), ``UNet1d(base=16, levels=3)``, Adam), each a median
of ``--repeats`` process-CPU-second timings at a fixed thread count, side by side:

1. architectures: a training step (forward, backward, Adam) and a no-grad forward of 256 records
   for today's base 16 / 3 levels and leaner variants (fewer channels or levels), with parameter
   counts (downstream AUC is not measured here: a smaller net must earn its place in the suite);
2. convolution layouts: every Conv1d of today's U-Net (shapes recorded by hooks) forward + backward
   as ``conv1d`` on (B, C, L) against ``conv2d`` on (B, C, 1, L) in ``channels_last`` memory format,
   summed over the layers (the layout change alone, without the conversions it would need), and
   ``conv1d`` with oneDNN (mkldnn) disabled;
3. stacking: K U-Nets trained as one by :func:`benchmark.diffusion.stacked.fit_stacked` (the
   ``vmap`` backend: the convolutions become grouped convolutions over the members) against K
   lone :func:`~benchmark.diffusion.training.fit_denoiser` calls, per-repeat ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # scripts run from a checkout

from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.stacked import MemberConfig, MemberData, fit_stacked, fresh_members
from benchmark.diffusion.training import dsm_loss, fit_denoiser
from benchmark.diffusion.unet1d import UNet1d
from benchmark.seeding import torch_generator

SHAPE, BATCH = (8, 256), 64  # quick ecg-synth: 8 independent leads, length 256, batch 64


def median_cpu(fn: Callable[[], object], repeats: int) -> float:
    """gmm_train's median process CPU seconds, after one warm-up call."""
    from gmm_train import median_time  # the sibling script (scripts/ is on sys.path when run)

    fn()
    return median_time(fn, repeats)


def architectures(repeats: int, steps: int) -> None:
    x = torch.randn(512, *SHAPE)
    sched = VPSchedule()
    for base, levels in ((16, 3), (12, 3), (8, 3), (16, 2), (8, 2)):
        torch.manual_seed(0)
        net = UNet1d(SHAPE, base=base, levels=levels)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, foreach=True)
        gen = torch_generator(0)

        def train() -> None:
            for _ in range(steps):
                loss = dsm_loss(net, sched, x[torch.randint(len(x), (BATCH,), generator=gen)], None, gen)
                opt.zero_grad()
                loss.backward()
                opt.step()

        def forward() -> None:
            with torch.no_grad():
                net(x[:256], torch.rand(256))

        step = median_cpu(train, repeats) / steps
        fwd = median_cpu(forward, repeats)
        n = sum(p.numel() for p in net.parameters())
        print(f"arch base={base:2d} levels={levels}: {n / 1e3:6.1f}k params, train step {1e3 * step:6.1f} ms, "
              f"forward of 256 records {1e3 * fwd:6.1f} ms", flush=True)


def conv_layouts(repeats: int) -> None:
    net = UNet1d(SHAPE, base=16, levels=3)
    shapes: list[tuple[nn.Conv1d, torch.Size]] = []
    hooks = [m.register_forward_hook(lambda m, inp, out: shapes.append((m, inp[0].shape)))
             for m in net.modules() if isinstance(m, nn.Conv1d)]
    net(torch.randn(BATCH, *SHAPE), torch.rand(BATCH))
    for h in hooks:
        h.remove()
    ncl, cl, plain = 0.0, 0.0, 0.0
    for conv, shape in shapes:
        x1 = torch.randn(shape, requires_grad=True)
        w1 = conv.weight.detach().clone().requires_grad_(True)
        x2 = x1.detach().unsqueeze(2).contiguous(memory_format=torch.channels_last).requires_grad_(True)
        w2 = w1.detach().unsqueeze(2).contiguous(memory_format=torch.channels_last).requires_grad_(True)
        kw = dict(stride=conv.stride[0], padding=conv.padding[0], dilation=conv.dilation[0])

        def one() -> None:
            F.conv1d(x1, w1, None, **kw).sum().backward()

        def two() -> None:
            F.conv2d(x2, w2, None, stride=(1, kw["stride"]), padding=(0, kw["padding"]),
                     dilation=(1, kw["dilation"])).sum().backward()

        ncl += median_cpu(lambda: [one() for _ in range(10)], repeats) / 10
        cl += median_cpu(lambda: [two() for _ in range(10)], repeats) / 10
        with torch.backends.mkldnn.flags(enabled=False):
            plain += median_cpu(lambda: [one() for _ in range(10)], repeats) / 10
    print(f"convolutions of one base-16 step ({len(shapes)} Conv1d, batch {BATCH}), forward + backward: "
          f"conv1d (B, C, L) {1e3 * ncl:.1f} ms, conv2d channels_last (B, C, 1, L) {1e3 * cl:.1f} ms "
          f"(ratio {ncl / cl:.2f}), conv1d without oneDNN {1e3 * plain:.1f} ms (ratio {ncl / plain:.2f})", flush=True)


def stacking(ks: list[int], repeats: int, steps: int) -> None:
    gen = torch.Generator().manual_seed(0)
    for k in ks:
        data = [MemberData(torch.randn(200, *SHAPE, generator=gen)) for _ in range(k)]
        configs = [MemberConfig(steps=steps, lr=1e-3, batch=BATCH, seed=i) for i in range(k)]
        build = lambda: UNet1d(SHAPE, base=16, levels=3)  # noqa: E731
        ts, tq = [], []
        for r in range(repeats + 1):
            for which in ((0, 1) if r % 2 == 0 else (1, 0)):
                models = fresh_members(build, [c.seed for c in configs])
                t0 = time.process_time()
                if which == 0:
                    fit_stacked(models, data, configs)
                else:
                    for m, d, c in zip(models, data, configs):
                        fit_denoiser(m, d.x, None, c.steps, c.batch, c.lr, torch_generator(c.seed), torch.device("cpu"))
                if r:  # the first round warms up
                    (ts if which == 0 else tq).append(time.process_time() - t0)
        ratio = statistics.median(q / s for s, q in zip(ts, tq))
        print(f"stacked U-Nets K={k:2d}: stacked {k * steps / statistics.median(ts):6.1f} member-steps/s, "
              f"sequential {k * steps / statistics.median(tq):6.1f}; speed-up {ratio:.2f}x", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 4, 8])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, x {(BATCH, *SHAPE)}, median of {args.repeats} (CPU s)")
    architectures(args.repeats, args.steps)
    conv_layouts(args.repeats)
    stacking(args.ks, args.repeats, args.steps)


if __name__ == "__main__":
    main()
