"""In-suite training step vs the bare training loop, and both against the matmul peak.

    python scripts/step_overhead.py [--threads 1] [--repeats 5] [--steps 200] [--sizes quick adapt paper ecg]

For each size, one process alternates (repeat by repeat, so both see the same machine load):

- ``bare``:  the textbook loop ``loss = dsm_loss(...); opt.zero_grad(); loss.backward(); opt.step()``
  with ``torch.optim.Adam`` defaults (the loop of ``scripts/gmm_train.py``);
- ``suite``: :func:`benchmark.diffusion.training.fit_denoiser` exactly as a source stage calls it
  (cosine learning rate, loss trace, checkpoints every 200 steps into a temp folder);

and prints the median seconds per step of each, their ratio (the in-suite overhead; goal <= 1.10)
and, for the MLPs, the achieved training FLOP/s as a share of a 1024^3 float32 GEMM timed in the
same process (goal >= 50 % at quick size).  Times are the process's CPU time
(``time.process_time``), not wall time: on a machine shared with other jobs, wall time counts the
time this process waited for a core; with one torch thread CPU time is the work done.
Sizes: ``quick`` = 3x128 MLP, batch 1024 (the quick suite's source model); ``adapt`` = the same
network at batch 256 (guidance / classifier batches); ``paper`` = 4x512, batch 4096; ``ecg`` = the
quick ecg-synth 1-D U-Net (base 16, 3 levels), batch 64, 8 x 256 records.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # scripts run from a checkout

from benchmark.diffusion.checkpoint import CheckpointSpec  # noqa: E402
from benchmark.diffusion.nets import make_denoiser  # noqa: E402
from benchmark.diffusion.schedule import VPSchedule  # noqa: E402
from benchmark.diffusion.training import batch_index, dsm_loss, fit_denoiser  # noqa: E402
from benchmark.seeding import torch_generator  # noqa: E402

SIZES = {  # kind, sample shape, width, depth, batch, n data
    "quick": ("vector", (2,), 128, 3, 1024, 10_000),
    "adapt": ("vector", (2,), 128, 3, 256, 10_000),
    "paper": ("vector", (2,), 512, 4, 4096, 10_000),
    "ecg": ("ecg", (8, 256), 16, 3, 64, 2_000),
}


def cpu_time(fn: Callable[[], None]) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def matmul_peak() -> float:
    """FLOP/s of a 1024^3 float32 GEMM, best of 5 x 10."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    return max(2 * 1024**3 * 10 / cpu_time(lambda: [a @ b for _ in range(10)]) for _ in range(5))


def mlp_flops_per_step(width: int, depth: int, batch: int, d: int = 2, emb: int = 64) -> float:
    """Forward + backward ~ 3 x 2 x (multiply-adds of the Linear layers) per sample."""
    macs = emb * emb + (d + emb) * width + (depth - 1) * width * width + width * d
    return 6.0 * macs * batch


def bare(kind, shape, width, depth, batch, x, steps) -> None:
    torch.manual_seed(0)
    model = make_denoiser(kind, shape, width, depth)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen, sched = torch_generator(0), VPSchedule()
    for _ in range(steps):
        loss = dsm_loss(model, sched, x[batch_index(len(x), batch, gen)], None, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()


def suite(kind, shape, width, depth, batch, x, steps) -> None:
    torch.manual_seed(0)
    model = make_denoiser(kind, shape, width, depth)
    with tempfile.TemporaryDirectory() as tmp:
        fit_denoiser(model, x, None, steps, batch, 1e-3, torch_generator(0), torch.device("cpu"), progress=False,
                     checkpoint=CheckpointSpec(Path(tmp) / "ckpt", every=200, keep=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=400, help="steps per timed training (paper size: steps / 20)")
    ap.add_argument("--sizes", nargs="+", default=["quick", "adapt", "ecg"], choices=sorted(SIZES))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak()
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} (CPU time); "
          f"matmul peak {peak / 1e9:.1f} GFLOP/s")
    print(f"{'size':6} {'bare ms/step':>12} {'suite ms/step':>13} {'suite/bare':>10} {'bare %peak':>10} {'suite %peak':>11}")
    for name in args.sizes:
        kind, shape, width, depth, batch, n = SIZES[name]
        steps = max(10, args.steps // 20) if name == "paper" else args.steps
        x = torch.randn(n, *shape)
        times: dict[str, list[float]] = {"bare": [], "suite": []}
        bare(kind, shape, width, depth, batch, x, 5)  # warm-up
        for _ in range(args.repeats):
            for label, fn in (("bare", bare), ("suite", suite)):
                times[label].append(cpu_time(lambda: fn(kind, shape, width, depth, batch, x, steps)) / steps)
        b, s = statistics.median(times["bare"]), statistics.median(times["suite"])
        ratios = statistics.median(si / bi for si, bi in zip(times["suite"], times["bare"]))
        share = ""
        if kind == "vector":
            f = mlp_flops_per_step(width, depth, batch)
            share = f"{f / b / peak:>10.1%} {f / s / peak:>11.1%}"
        print(f"{name:6} {b * 1e3:>12.2f} {s * 1e3:>13.2f} {ratios:>10.3f} {share}")


if __name__ == "__main__":
    main()
