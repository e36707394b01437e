"""Row-chunked network calls at sampling time (``eval_rows``): speed and bits, side by side.

    python benchmarks/eval_rows.py [--repeats 11] [--threads 1] [--chunks 512 1024 2048 4096]

At the suite's one torch thread, for the quick gmm2d networks (denoiser: 3x128 SiLU ``EpsMLP``;
guidance: 3x128 time-dependent ``TimeMLP`` under softplus, as TGDP builds it):

1. one network call on the 10,000 rows of one sampler batch against the same call on
   consecutive chunks of ``--chunks`` rows (eps_theta, and grad_x log h through autograd);
2. 25-step DPM-Solver-2 sampling of 10,000 points, unguided and with lagged guidance (the quick
   suite's sampler), with one call per batch and with the suite's ``cpu_eval_rows`` chunks, and
   the guided / unguided ratio with chunks (issue 11's goal: <= 2).

Each figure is the median process CPU time over ``--repeats`` repeats; within a repeat the
variants run one after another (interleaved), and ratios are medians of per-repeat ratios.
Every chunked result is checked bit for bit against one call (the suite relies on that): the
script exits 1 and says which variant differs if any does.

The ECG U-Net is not chunked by the suite: oneDNN picks its convolution algorithm by batch
size, so a chunked call differs in the last bits (``--unet`` prints the difference).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from benchmark.diffusion.guidance import grad_log_of
from benchmark.diffusion.nets import EpsMLP, make_scalar_net
from benchmark.diffusion.unet1d import UNet1d
from benchmark.diffusion.samplers import _by_rows, cpu_eval_rows, sample
from benchmark.seeding import torch_generator


def cpu_seconds(fn) -> tuple[float, torch.Tensor]:
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def quick_networks():
    torch.manual_seed(0)
    model = EpsMLP(2, 128, 3).eval()
    h = make_scalar_net("vector", (2,), 128, 3, time=True).eval()
    eps = lambda x, t, y: model(x, t)
    grad = grad_log_of(lambda x, t, y: torch.nn.functional.softplus(h(x, t)).squeeze(-1).log())
    return eps, grad


def call_table(chunks: list[int], repeats: int) -> bool:
    eps, grad = quick_networks()
    x = torch.randn(10_000, 2, generator=torch_generator(1))
    t = torch.full((10_000,), 0.3)
    identical = True
    for name, fn in (("eps_theta", eps), ("grad log h", grad)):
        variants = [None, *chunks]
        times: dict[int | None, list[float]] = {v: [] for v in variants}
        for _ in range(repeats):
            ref = None
            for v in variants:
                with torch.no_grad() if fn is eps else torch.enable_grad():
                    s, out = cpu_seconds(lambda: _by_rows(fn, v, x, t, None))
                times[v].append(s)
                if ref is None:
                    ref = out
                elif not torch.equal(out, ref):
                    identical = False
                    print(f"DIFFERENT BITS: {name} in chunks of {v} rows")
        one = statistics.median(times[None])
        cells = ", ".join(f"{v} rows {1e3 * statistics.median(times[v]):.1f} ms "
                          f"({one / statistics.median(times[v]):.2f}x)" for v in chunks)
        print(f"{name} on 10,000 rows: one call {1e3 * one:.1f} ms; {cells}")
    return identical


def sampling_table(repeats: int) -> bool:
    eps, grad = quick_networks()
    rows = cpu_eval_rows((2,), "cpu")
    variants = {"unguided, one call": (None, None), f"unguided, {rows}-row chunks": (None, rows),
                "lagged guidance, one call": (grad, None), f"lagged guidance, {rows}-row chunks": (grad, rows)}
    times: dict[str, list[float]] = {k: [] for k in variants}
    identical = True
    for _ in range(repeats):
        outs = {}
        for k, (g, r) in variants.items():
            s, outs[k] = cpu_seconds(lambda: sample(eps, (2,), 10_000, torch_generator(0), grad_log_h=g,
                                                    lagged_guidance=g is not None, eval_rows=r))
            times[k].append(s)
        keys = list(variants)
        for one, chunked in ((keys[0], keys[1]), (keys[2], keys[3])):
            if not torch.equal(outs[one], outs[chunked]):
                identical = False
                print(f"DIFFERENT BITS: {chunked} against {one}")
    med = {k: statistics.median(v) for k, v in times.items()}
    keys = list(variants)
    for k in keys:
        print(f"sampling 10,000 points, 25-step DPM-Solver-2, {k}: {med[k]:.3f} s")
    speed = [statistics.median(a / b for a, b in zip(times[keys[i]], times[keys[i + 1]])) for i in (0, 2)]
    ratio_one = statistics.median(g / p for p, g in zip(times[keys[0]], times[keys[2]]))
    ratio_chunked = statistics.median(g / p for p, g in zip(times[keys[1]], times[keys[3]]))
    print(f"chunked / one call speed-up: unguided {speed[0]:.2f}x, lagged-guided {speed[1]:.2f}x")
    print(f"guided / unguided: one call {ratio_one:.2f}x, chunked {ratio_chunked:.2f}x (goal <= 2)")
    return identical


def unet_difference() -> None:
    torch.manual_seed(0)
    net = UNet1d((8, 256), base=16, levels=3).eval()
    torch.nn.init.normal_(net.out.weight, std=0.1)
    x = torch.randn(400, 8, 256, generator=torch_generator(2))
    t = torch.full((400,), 0.3)
    fn = lambda x, t, y: net(x, t)
    with torch.no_grad():
        one, chunked = fn(x, t, None), _by_rows(fn, 128, x, t, None)
    print(f"ECG U-Net (8, 256), 400 records: chunks of 128 differ from one call by up to "
          f"{(one - chunked).abs().max():.2e} (bit-identical: {torch.equal(one, chunked)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the suite's: 1)")
    ap.add_argument("--chunks", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    ap.add_argument("--unet", action="store_true", help="also show the ECG U-Net's chunked difference")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {torch.backends.cpu.get_cpu_capability()}, "
          f"median of {args.repeats} interleaved repeats (process CPU time)")
    ok = call_table(args.chunks, args.repeats)
    ok = sampling_table(args.repeats) and ok
    if args.unet:
        unet_difference()
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
