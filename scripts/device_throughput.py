"""Training throughput of the denoiser on the CPU and on CUDA (steps per second).

    python scripts/device_throughput.py [--steps 100] [--threads N]

For the quick suite's denoiser (3x128 SiLU MLP, batch 512) and the paper's (4x512, batch
4096) on 2-d data, times ``steps`` Adam steps of denoising score matching after 10 warm-up
steps, on the CPU (``--threads``, default all cores) and, if available, on CUDA
(synchronised before the clock stops).  Prints one line per size with the speed-up.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from benchmark.diffusion.nets import EpsMLP
from benchmark.diffusion.training import fit_denoiser
from benchmark.seeding import torch_generator

SIZES = {"quick 3x128 b512": (128, 3, 512), "paper 4x512 b4096": (512, 4, 4096)}


def steps_per_second(device: torch.device, width: int, depth: int, batch: int, steps: int) -> float:
    x = torch.randn(20_000, 2, generator=torch_generator(0))
    model = EpsMLP(2, width, depth)
    fit_denoiser(model, x, None, 10, batch, 1e-3, torch_generator(1), device)  # warm-up (CUDA context, kernels)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fit_denoiser(model, x, None, steps, batch, 1e-3, torch_generator(2), device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name(0) if cuda else "no CUDA device"
    print(f"throughput (training steps/s): CPU {args.threads} threads vs {name}")
    for label, (width, depth, batch) in SIZES.items():
        cpu = steps_per_second(torch.device("cpu"), width, depth, batch, args.steps)
        line = f"  {label:<18} cpu {cpu:9.1f}"
        if cuda:
            gpu = steps_per_second(torch.device("cuda"), width, depth, batch, args.steps)
            line += f"   cuda {gpu:9.1f}   speed-up x{gpu / cpu:.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
