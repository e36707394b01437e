"""Timing of stacked training and sampling (issue 24): K members as one against K one after another.

    python scripts/stacked_train.py [--threads 1] [--repeats 3] [--steps 60] [--ks 1 4 8 16]
                                    [--batches 1024 256 100 10] [--points 2000] [--no-sampling] [--device cpu]

At quick size (the 3x128 SiLU MLP denoiser of the quick gmm2d budget) for each batch size B (1024:
source training on 10,000 points; 256: every adaptation stage of the suites since the equal
budget (``target_batch``, DESIGN.md §8), here on 256 points; 100 and 10: the batch min(1024, n)
of the suites before it, on n_target = B points) and each K: ``fit_stacked`` on K members (with the foreach Adam of
the lone loop, and with ``fused_adam``) against K ``fit_denoiser`` calls with the same seeds, data
and lr, ``--steps`` steps each.  In each repeat they are timed back to back (order rotating), and
the speed-up is the median over repeats of the per-repeat
ratio sequential / stacked, so a slow phase of a shared machine hits both.  Times are process CPU
seconds on the CPU (at one thread, the work done, not the waits for a core) and wall seconds on a
GPU; rates are member-steps per second.  Sampling: 25-step DPM-Solver-2 of ``--points`` points
per member, unguided and with a 3x128 guidance network (grad log h by autograd), ``sample_stacked``
(all K x points rows in one solver run, and in runs of at most ``ROWS`` rows) against K ``sample`` calls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # scripts run from a checkout

from benchmark.diffusion.guidance import grad_log_of
from benchmark.diffusion.nets import make_denoiser, make_scalar_net
from benchmark.diffusion.samplers import sample
from benchmark.diffusion.stacked import MemberConfig, MemberData, fit_stacked, fresh_members
from benchmark.diffusion.stacked_nets import StackedNet
from benchmark.diffusion.stacked_sampling import sample_stacked, stacked_grad_log_h
from benchmark.diffusion.training import fit_denoiser
from benchmark.seeding import torch_generator

WIDTH, DEPTH, LR = 128, 3, 2e-3  # the quick gmm2d denoiser (benchmark/suites.py QUICK_GMM)
ROWS = 4096  # sample_stacked(max_rows=...): rows per solver run, the second stacked sampling variant


def clock(device: torch.device) -> Callable[[], float]:
    if device.type == "cuda":
        def wall() -> float:
            torch.cuda.synchronize()
            return time.perf_counter()
        return wall
    return time.process_time


def paired(candidates: list[Callable[[], None]], sequential: Callable[[], None], repeats: int,
           now: Callable[[], float]) -> tuple[float, list[float], list[float]]:
    """(median sequential s, median s of each candidate, median per-repeat ratio sequential / candidate),
    after one untimed call of each (first-call costs: lazy imports, allocator warm-up); within a repeat
    the order rotates."""
    fns = [sequential, *candidates]
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        for j in range(len(fns)):
            i = (j + r) % len(fns)
            t0 = now()
            fns[i]()
            times[i].append(now() - t0)
    seq = times[0]
    return (statistics.median(seq), [statistics.median(t) for t in times[1:]],
            [statistics.median(q / s for s, q in zip(t, seq)) for t in times[1:]])


def training(k: int, batch: int, steps: int, repeats: int, device: torch.device) -> tuple[float, float, float]:
    n = 10_000 if batch >= 1024 else batch
    gen = torch.Generator().manual_seed(k)
    data = [MemberData(torch.randn(n, 2, generator=gen)) for _ in range(k)]
    configs = [MemberConfig(steps=steps, lr=LR, batch=batch, seed=1000 + i) for i in range(k)]
    build = lambda: make_denoiser("vector", (2,), WIDTH, DEPTH)  # noqa: E731

    def stacked(fused: bool) -> Callable[[], None]:
        return lambda: fit_stacked(fresh_members(build, [c.seed for c in configs]), data, configs, device,
                                   fused_adam=fused)

    def sequential() -> None:
        for m, d, c in zip(fresh_members(build, [c.seed for c in configs]), data, configs):
            fit_denoiser(m, d.x, None, c.steps, c.batch, c.lr, torch_generator(c.seed), device)

    return paired([stacked(False), stacked(True)], sequential, repeats, clock(device))


def sampling(k: int, points: int, guided: bool, repeats: int, device: torch.device) -> tuple[float, float, float]:
    torch.manual_seed(k)
    nets = [make_denoiser("vector", (2,), WIDTH, DEPTH).to(device).eval() for _ in range(k)]
    hs = [make_scalar_net("vector", (2,), WIDTH, DEPTH, time=True).to(device).eval() for _ in range(k)]
    to_log = lambda out: torch.log(F.softplus(out) + 1e-12)  # noqa: E731
    net = StackedNet(nets).to(device)
    grad = stacked_grad_log_h(StackedNet(hs).to(device), to_log) if guided else None

    def stacked(rows: int | None) -> Callable[[], None]:
        return lambda: sample_stacked(net, (2,), points, [torch_generator(i) for i in range(k)], device,
                                      grad_log_h=grad, max_rows=rows)

    def sequential() -> None:
        for i, (m, h) in enumerate(zip(nets, hs)):
            g = grad_log_of(lambda x, t, y, h=h: to_log(h(x, t).squeeze(-1))) if guided else None
            sample(lambda x, t, y, m=m: m(x, t), (2,), points, torch_generator(i), device, grad_log_h=g)

    return paired([stacked(None), stacked(ROWS)], sequential, repeats, clock(device))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60, help="timed training steps per member")
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 4, 8, 16])
    ap.add_argument("--batches", type=int, nargs="+", default=[1024, 256, 100, 10])
    ap.add_argument("--points", type=int, default=2000, help="points sampled per member (quick gmm2d n_eval)")
    ap.add_argument("--sampling-ks", type=int, nargs="+", default=[1, 4, 8, 16])
    ap.add_argument("--no-sampling", action="store_true")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    unit = "wall s" if device.type == "cuda" else "CPU s"
    print(f"torch {torch.__version__}, {device}, {args.threads} threads, {WIDTH}x{DEPTH} MLP, "
          f"{args.steps} steps per member, median of {args.repeats} interleaved repeats ({unit})")
    for batch in args.batches:
        for k in args.ks:
            q, (s, f), (ratio, fratio) = training(k, batch, args.steps, args.repeats, device)
            rate = lambda sec: k * args.steps / sec  # noqa: E731
            print(f"train B={batch:5d} K={k:3d}: sequential {rate(q):7.1f} member-steps/s; stacked {rate(s):7.1f} "
                  f"(speed-up {ratio:5.2f}x); stacked, fused Adam {rate(f):7.1f} ({fratio:5.2f}x)", flush=True)
    if args.no_sampling:
        return
    for guided in (False, True):
        for k in args.sampling_ks:
            q, (s, c), (ratio, cratio) = sampling(k, args.points, guided, args.repeats, device)
            rate = lambda sec: k * args.points / sec  # noqa: E731
            print(f"sample {'guided  ' if guided else 'unguided'} K={k:3d} x {args.points} points: sequential "
                  f"{rate(q):7.0f} points/s; stacked {rate(s):7.0f} ({ratio:5.2f}x); stacked, <= {ROWS} rows a "
                  f"run {rate(c):7.0f} ({cratio:5.2f}x)", flush=True)


if __name__ == "__main__":
    main()
