"""Adam's three CPU implementations on the suite's networks: time per training step and bit-equality.

    python scripts/optimizer_step.py [--threads 1] [--repeats 7] [--steps 100] [--sizes quick guidance ecg ecg-clf]

torch offers Adam(W) as a per-parameter loop (``foreach=False``, torch's CPU default), as
multi-tensor ops (``foreach=True``, its CUDA default) and as one fused kernel (``fused=True``).
For each size this trains the same network from the same initialisation on the same batches with
each of the three, interleaved repeat by repeat (so all see the same machine load), and prints

- the median process-CPU seconds per training step (forward, backward, optimiser step) and the
  ratio loop / variant (> 1: the variant is faster);
- whether the parameters after ``--steps`` steps equal the loop's **bit for bit**.

The suite uses ``foreach=True`` (``benchmark/diffusion/training.py``, ``benchmark/ecg/classifier.py``)
because it is faster and gives the loop's bits, so every record written before the change is
reproduced; ``fused=True`` is faster still on small batches but rounds differently (different
bits, every reference number would change), so it is reported, not used.

Sizes: ``quick`` = 3x128 MLP denoiser, batch 1024 (the quick source model); ``guidance`` = the
3x128 scalar MLP at batch 256 (h_psi, classifiers); ``ecg`` = the quick ecg-synth 1-D U-Net (base 16,
3 levels), batch 64, 8 x 256; ``ecg-clf`` = the downstream ResNet1d (width 32), batch 64, AdamW.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # scripts run from a checkout

from benchmark.diffusion.nets import make_denoiser, make_scalar_net  # noqa: E402
from benchmark.ecg.classifier import ResNet1d  # noqa: E402

VARIANTS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def size_setup(size: str) -> tuple[Callable[[], torch.nn.Module], Callable[[torch.nn.Module, torch.Generator], torch.Tensor], bool]:
    """(network factory, loss(net, generator) of one fresh batch, AdamW with weight decay?)."""
    if size in ("quick", "guidance"):
        batch = 1024 if size == "quick" else 256
        if size == "quick":
            make = lambda: make_denoiser("vector", (2,), 128, 3)
        else:
            make = lambda: make_scalar_net("vector", (2,), 128, 3, time=True)

        def loss(net, gen):
            x, t = torch.randn(batch, 2, generator=gen), torch.rand(batch, generator=gen)
            out = net(x, t)
            return (out - x).pow(2).mean() if out.shape == x.shape else out.pow(2).mean()
        return make, loss, False
    if size == "ecg":
        def loss(net, gen):
            x, t = torch.randn(64, 8, 256, generator=gen), torch.rand(64, generator=gen)
            return (net(x, t) - x).pow(2).mean()
        return (lambda: make_denoiser("ecg", (8, 256), 16, 3)), loss, False
    if size == "ecg-clf":
        def loss(net, gen):
            x, y = torch.randn(64, 8, 256, generator=gen), torch.randint(5, (64,), generator=gen)
            return torch.nn.functional.cross_entropy(net(x), y)
        return (lambda: ResNet1d(8, 5, 32)), loss, True
    raise SystemExit(f"unknown size {size!r}; choose from quick, guidance, ecg, ecg-clf")


def train(size: str, variant: str, steps: int) -> tuple[float, torch.Tensor]:
    """(CPU seconds per step, the flattened parameters after ``steps`` steps)."""
    make, loss_fn, decay = size_setup(size)
    torch.manual_seed(0)
    net = make()
    kw = dict(lr=1e-3, **VARIANTS[variant])
    opt = torch.optim.AdamW(net.parameters(), weight_decay=1e-4, **kw) if decay else torch.optim.Adam(net.parameters(), **kw)
    gen = torch.Generator().manual_seed(0)
    t0 = time.process_time()
    for k in range(steps):
        for group in opt.param_groups:  # a changing learning rate, as the suite's cosine schedule
            group["lr"] = 1e-3 * (1.0 - k / steps)
        loss = loss_fn(net, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.process_time() - t0) / steps, torch.cat([p.detach().flatten() for p in net.parameters()])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--sizes", nargs="+", default=["quick", "guidance", "ecg", "ecg-clf"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, {args.threads} thread(s), "
          f"median of {args.repeats} interleaved repeats of {args.steps} steps")
    print("| size | loop ms/step | foreach ms/step (ratio, bits) | fused ms/step (ratio, bits) |")
    print("|---|---:|---:|---:|")
    for size in args.sizes:
        steps = args.steps if size in ("quick", "guidance") else max(5, args.steps // 10)
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        params: dict[str, torch.Tensor] = {}
        for _ in range(args.repeats):
            for v in VARIANTS:
                dt, params[v] = train(size, v, steps)
                times[v].append(dt)
        med = {v: statistics.median(ts) for v, ts in times.items()}
        cells = [f"{1e3 * med[v]:.2f} ({med['loop'] / med[v]:.2f}x, "
                 f"{'same' if torch.equal(params[v], params['loop']) else 'differ'})" for v in ("foreach", "fused")]
        print(f"| {size} ({steps} steps) | {1e3 * med['loop']:.2f} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
