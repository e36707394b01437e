"""The cost of training checkpoints (--checkpoint-every), measured directly.

    python scripts/checkpoint_overhead.py [--steps 1000] [--every 200] [--width 128 --depth 3 --batch 512]

Trains the quick suite's source denoiser (by default) on 8,000 2-d points for ``steps``
steps without checkpoints (seconds per step), times one checkpoint save of that training's
full state (parameters, Adam moments, generator and RNG states, loss trace; temp file,
fsync, rename) ``--saves`` times, and prints the overhead of saving every ``every`` steps,
saves x save time / training time.  (The difference of two whole trainings is too noisy on
a shared machine to resolve a ~1 % effect.)  It also trains once with checkpoints and
checks that the weights are bit-identical to the plain training's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmark.diffusion import checkpoint as ckpt
from benchmark.diffusion.checkpoint import CheckpointSpec
from benchmark.diffusion.nets import EpsMLP
from benchmark.diffusion.training import fit_denoiser
from benchmark.seeding import torch_generator


def train(args: argparse.Namespace, x: torch.Tensor, spec: CheckpointSpec | None) -> tuple[float, dict]:
    torch.manual_seed(0)
    model = EpsMLP(2, args.width, args.depth)
    t0 = time.perf_counter()
    fit_denoiser(model, x, None, args.steps, args.batch, 1e-3, torch_generator(1), torch.device("cpu"),
                 checkpoint=spec)
    return time.perf_counter() - t0, model.state_dict()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--every", type=int, default=200)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--saves", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    x = torch.randn(8000, 2, generator=torch_generator(0))
    with tempfile.TemporaryDirectory() as tmp:
        spec = CheckpointSpec(Path(tmp) / "train", every=args.every, keep=2)
        t_plain, w_plain = train(args, x, None)
        t_ckpt, w_ckpt = train(args, x, spec)
        assert all(torch.equal(w_plain[k], w_ckpt[k]) for k in w_plain), "checkpointing changed the weights"
        newest = sorted(spec.folder.glob("step-*.pt"))[-1]
        state = torch.load(newest, weights_only=True)
        size_kb = newest.stat().st_size / 1024
        bench = CheckpointSpec(Path(tmp) / "bench", every=args.every, keep=2)
        times = []
        for i in range(args.saves):
            t0 = time.perf_counter()
            ckpt.save(bench, {**state, "step": i + 1})
            times.append(time.perf_counter() - t0)
    t_save = statistics.median(times)
    n_saves = args.steps // args.every
    print(f"{args.steps} steps, MLP {args.depth}x{args.width}, batch {args.batch}, {args.threads} thread(s)")
    print(f"  training without checkpoints  {t_plain:8.2f} s   ({1e3 * t_plain / args.steps:.2f} ms/step)")
    print(f"  one checkpoint save           {1e3 * t_save:8.2f} ms  ({size_kb:.0f} KB; median of {args.saves})")
    print(f"  every {args.every} steps             {100 * n_saves * t_save / t_plain:8.2f} %  overhead "
          f"({n_saves} saves); whole training with checkpoints {t_ckpt:.2f} s, weights bit-identical")


if __name__ == "__main__":
    main()
