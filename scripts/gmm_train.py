"""Timing of the Gaussian-mixture workload: source training, adaptation, sampling.

    python scripts/gmm_train.py [--repeats 3] [--full-steps 30] [--suite-wall] [--sampling-only] [--points 2000]

Reports, each as the median of ``--repeats`` runs at a fixed torch thread count (default 1, the
suite's), in process CPU seconds:
- source training steps/s and the achieved training FLOP/s as a fraction of this
  machine's matmul peak (a float32 GEMM measured in the same run), for the quick
  settings (3x128 MLP, batch 1024, 2,000 steps) and the reproduction's full settings (4x512 MLP,
  batch 4096, 500 epochs of 10,000 samples = 1,500 steps, extrapolated from
  ``--full-steps`` timed steps);
- finetune / LoRA adaptation steps/s;
- 25-step DPM-Solver-2 sampling of ``--points`` points (default 2,000: the quick gmm2d
  ``n_eval``, one sampler batch of every run; figures before 2026-12-07 used 10,000), unguided and with TGDP guidance
  (one extra backward pass through h_psi per model call, or per step with the quick suite's
  ``lagged_guidance``), and their ratios;
- with ``--suite-wall``: the wall time of the gmm2d part of the quick suite with
  ``--jobs 2`` in a fresh results folder.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # scripts run from a checkout

from benchmark.diffusion.guidance import grad_log_of
from benchmark.diffusion.lora import apply_lora
from benchmark.diffusion.nets import EpsMLP, make_scalar_net
from benchmark.diffusion.samplers import sample
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import batch_index, dsm_loss
from benchmark.seeding import torch_generator


def median_time(fn, repeats: int) -> float:
    """Median process CPU seconds of ``fn()`` (CPU time, not wall time: on a shared machine wall
    time also counts the waits for a core; at one torch thread CPU time is the work done)."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def matmul_peak(repeats: int) -> float:
    """FLOP/s of a 1024^3 float32 GEMM (the machine's practical peak here)."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    reps = 20
    t = median_time(lambda: [a @ b for _ in range(reps)], repeats)
    return 2 * 1024**3 * reps / t


def mlp_flops_per_step(width: int, depth: int, batch: int, d: int = 2, emb: int = 64) -> float:
    """Forward + backward ~ 3 x 2 x (multiply-adds of the Linear layers) per sample."""
    macs = emb * emb + (d + emb) * width + (depth - 1) * width * width + width * d
    return 6.0 * macs * batch


def train_rate(width: int, depth: int, batch: int, steps: int, repeats: int, params=None) -> float:
    x = torch.randn(10_000, 2)
    sched = VPSchedule()

    def go() -> None:
        torch.manual_seed(0)
        model = EpsMLP(2, width, depth)
        trainable = list(model.parameters()) if params is None else params(model)
        opt = torch.optim.Adam(trainable, lr=1e-3, foreach=True)  # the suite's optimiser (training.optimise)
        gen = torch_generator(0)
        for _ in range(steps):
            loss = dsm_loss(model, sched, x[batch_index(len(x), batch, gen)], None, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return steps / median_time(go, repeats)


def sampling_times(width: int, depth: int, guid_width: int, guid_depth: int,
                   repeats: int, points: int) -> tuple[float, float, float, float, float]:
    """(unguided s, guided s, lagged-guided s, median per-repeat ratios guided/unguided and
    lagged/unguided); the three are timed one after another within each repeat."""
    torch.manual_seed(0)
    model = EpsMLP(2, width, depth).eval()
    h = make_scalar_net("vector", (2,), guid_width, guid_depth, time=True).eval()
    eps = lambda x, t, y: model(x, t)
    grad = grad_log_of(lambda x, t, y: torch.nn.functional.softplus(h(x, t)).squeeze(-1).log())
    runs = [tuple(median_time(lambda: sample(eps, (2,), points, torch_generator(0), grad_log_h=g, lagged_guidance=lag), 1)
                  for g, lag in ((None, False), (grad, False), (grad, True)))
            for _ in range(repeats)]
    plain, guided, lagged = (statistics.median(r[i] for r in runs) for i in range(3))
    return (plain, guided, lagged, statistics.median(g / p for p, g, _ in runs),
            statistics.median(lg / p for p, _, lg in runs))


def report_sampling(configs: dict[str, tuple[int, int, int, int]], repeats: int, points: int) -> None:
    for label, cfg in configs.items():
        plain, guided, lagged, ratio, lag_ratio = sampling_times(*cfg, repeats, points)
        print(f"sampling {points:,} points, 25-step DPM-Solver-2, {label}: unguided {plain:.2f} s, "
              f"guided {guided:.2f} s (ratio {ratio:.2f}), lagged guidance {lagged:.2f} s (ratio {lag_ratio:.2f}; goal 2.0)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--guid-width", type=int, default=128, help="width of h at quick size (suite: 128)")
    ap.add_argument("--steps", type=int, default=200, help="timed steps at quick settings")
    ap.add_argument("--full-steps", type=int, default=20, help="timed steps at full settings (extrapolated)")
    ap.add_argument("--suite-wall", action="store_true", help="also time the gmm2d part of quick with --jobs 2")
    ap.add_argument("--sampling-only", action="store_true", help="only the quick-size sampling ratios")
    ap.add_argument("--points", type=int, default=2000,
                    help="points sampled per timing (quick gmm2d n_eval, one batch of every run: 2,000)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats}")
    sampling = {f"quick (3x128 MLP, 3x{args.guid_width} h)": (128, 3, args.guid_width, 3),
                "full (4x512 MLP, 3x256 h)": (512, 4, 256, 3)}
    if args.sampling_only:
        report_sampling({k: v for k, v in sampling.items() if k.startswith("quick")}, args.repeats, args.points)
        return
    peak = matmul_peak(args.repeats)
    print(f"matmul peak (1024^3 fp32 GEMM): {peak / 1e9:.1f} GFLOP/s")
    for label, (w, dpt, b, steps, total) in {
        "quick (3x128, batch 1024)": (128, 3, 1024, args.steps, 200 * 10),
        "full (4x512, batch 4096)": (512, 4, 4096, args.full_steps, 500 * 3),
    }.items():
        rate = train_rate(w, dpt, b, steps, args.repeats)
        flops = mlp_flops_per_step(w, dpt, b) * rate
        print(f"source training {label}: {rate:.1f} steps/s, {total} steps -> {total / rate:.1f} s; "
              f"{flops / 1e9:.2f} GFLOP/s = {flops / peak:.1%} of matmul peak")
    ft = train_rate(128, 3, 100, args.steps, args.repeats)
    lora = train_rate(128, 3, 100, args.steps, args.repeats, params=lambda m: apply_lora(m, 4, 4.0))
    print(f"adaptation (3x128, batch 100): finetune {ft:.1f} steps/s, LoRA r=4 {lora:.1f} steps/s "
          f"(ratio LoRA/finetune time {ft / lora:.2f})")
    report_sampling(sampling, args.repeats, args.points)
    if args.suite_wall:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "benchmark", "run", "--suite", "quick", "--tasks", "gmm2d", "--jobs", "2",
                   "--results", tmp, "--no-report", "--quiet"]
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            print(f"gmm2d part of quick, --jobs 2: {time.perf_counter() - t0:.0f} s wall (budget 420 s)")


if __name__ == "__main__":
    main()
