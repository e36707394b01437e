"""Sizing the gmm-highdim denoisers per dimension (issue 10, item 8): does the target-oracle
reach its floor?

    OMP_NUM_THREADS=1 nice -n 19 python scripts/highdim_sizing.py \\
        [--dims 8 32] [--grid 128:200 256:400] [--methods target-oracle source-only] \\
        [--results /tmp/highdim-sizing] [--sample-steps 25]

Each grid point ``WIDTH:EPOCHS[:SAMPLE_STEPS]`` runs the ``extended`` suite's gmm-highdim cell
(n_target 100, trial 0) through the real engine (``benchmark.planner.plan`` +
``benchmark.runner.execute``, one torch thread) with ``width`` and ``source_epochs`` (and
``sample_steps``) overridden for every method, and prints per run: the fit CPU seconds,
``logq_gap``, ``mmd`` and ``mmd_floor`` from the run record.

The floors of ``logq_gap`` = |mean log q(samples) - mean log q(held-out half A)| (2,000 samples
against 2,000), computed here from the closed form:
- ``noise``: what a perfect sampler scores in expectation, E|N(0, 2 Var_q[log q] / 2000)| =
  sqrt(2/pi) * std_q(log q) * sqrt(2/2000); std_q(log q) ~ sqrt(d/2) for these mixtures, so
  about 0.05 at d = 8 and 0.10 at d = 32;
- ``exact``: the gap of 2,000 samples drawn with the *exact* target score through the same
  sampler and step count (DPM-Solver-2), i.e. the floor a perfect network can reach with that
  sampler (its discretisation error grows with d: each coordinate's variance is ~2 % too large
  at 25 steps, and log q sums d such errors).
Also printed: the signed gap (negative: samples off the modes or too wide) and the mean over
coordinates of Var(sample_i) / Var(held-out_i).  Records and samples stay in ``--results``; a
rerun of a grid point is read back; ``--force`` reruns it, reusing a trained model from the
artifact cache (its fit_cpu_s then reads 0: the CPU seconds are those of the run that trained it).

Measured (trial 0, 2 shared cores, nice 19; the quick point reproduces the issue's d = 32
numbers: oracle logq_gap 10.09, source-only mmd 0.00515):
    --dims 32 --grid 128:200 128:800 256:200 256:400 256:800 512:200 512:400 256:800:50 512:400:50
    --dims 8 --grid 128:200 128:800 256:200 128:200:50
The rule derived from them is ``benchmark.suites.highdim_budget``.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.diffusion.samplers import sample  # noqa: E402
from benchmark.planner import plan, select  # noqa: E402
from benchmark.registry import load_plugin_file, load_registries  # noqa: E402
from benchmark.runner import ExecOptions, execute  # noqa: E402
from benchmark.seeding import torch_generator  # noqa: E402
from benchmark.store import RunStore  # noqa: E402

GMM = load_plugin_file(ROOT / "datasets" / "gmm.py")


def reference(dim: int) -> tuple[Any, torch.Tensor]:
    """(q, held-out half A) of the trial-0 data at ``dim``: what ``logq_gap`` compares with."""
    data = GMM.GMMHighDim(GMM.GMMHighDimParams(dim=dim), 0, 0).build()
    return data.closed_form.target, data.test_x[: len(data.test_x) // 2].double()


def signed_gap(q: Any, ref: torch.Tensor, x: torch.Tensor) -> tuple[float, float]:
    """(mean log q(x) - mean log q(ref), mean over coordinates of Var(x_i) / Var(ref_i)):
    negative gap = samples too spread (or off the modes), ratio > 1 = too wide."""
    x = x[: len(ref)].double()
    return (float(q.log_prob(x).mean() - q.log_prob(ref).mean()),
            float((x.var(0) / ref.var(0)).mean()))


def logq_floors(dim: int, sample_steps: int) -> dict[str, float]:
    """The two floors of ``logq_gap`` at ``dim`` (see the module docstring), trial 0 data."""
    q, ref = reference(dim)
    half = len(ref)
    noise = math.sqrt(2 / math.pi) * float(q.log_prob(ref).std()) * math.sqrt(2 / half)
    eps = lambda x, t, y: q.eps(x.double(), t.double()).float()  # noqa: E731
    x = sample(eps, (dim,), half, torch_generator(3), sampler="dpm2", steps=sample_steps)
    return {"noise": noise, "exact": abs(signed_gap(q, ref, x)[0])}


def grid_point(text: str) -> tuple[int, int, int | None]:
    parts = [int(v) for v in text.split(":")]
    if len(parts) not in (2, 3):
        raise SystemExit(f"--grid {text!r}: write WIDTH:EPOCHS or WIDTH:EPOCHS:SAMPLE_STEPS, e.g. 256:400")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--grid", nargs="+", default=["128:200", "256:400"], help="WIDTH:EPOCHS[:SAMPLE_STEPS] points")
    ap.add_argument("--methods", nargs="+", default=["target-oracle"])
    ap.add_argument("--sample-steps", type=int, default=25, help="sampler steps of a point without its own")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="further denoiser overrides for every point, e.g. ema=0.999 lr=1e-3")
    ap.add_argument("--suite", default="extended")
    ap.add_argument("--results", default="/tmp/highdim-sizing")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    regs = load_registries()
    suite = regs.suites.get(args.suite)()
    opts = ExecOptions(results=args.results, force=args.force, save_samples=True)
    store = RunStore(Path(args.results))
    extra = {k: float(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    floors: dict[tuple[int, int], dict[str, float]] = {}
    print(f"extra overrides: {extra}" if extra else "extra overrides: none")
    print("d  width epochs sstep method         fit_cpu_s  logq_gap   signed  var_x  floor(noise/exact)  mmd       mmd_floor", flush=True)
    for dim in args.dims:
        base = select(suite, regs, tasks=["gmm-highdim"], methods=args.methods, n_targets=[100], seeds=[0])
        cells = tuple(c for c in base.cells if c.task_params.get("dim") == dim)
        if not cells:
            raise SystemExit(f"the {args.suite} suite has no gmm-highdim cell with dim={dim}")
        for text in args.grid:
            width, epochs, steps = grid_point(text)
            steps = steps or args.sample_steps
            over = {"*": {"width": width, "source_epochs": epochs, "sample_steps": steps, **extra}}
            specs = plan(replace(base, cells=cells[:1]), regs, over)
            if (dim, steps) not in floors:
                floors[dim, steps] = logq_floors(dim, steps)
            fl = floors[dim, steps]
            for spec in specs:
                status = execute(spec, opts)
                record = store.state(spec.run_id).record or {}
                if status == "failed" or record.get("status") != "done":
                    print(f"{dim:<2} {width:<5} {epochs:<6} {steps:<5} {spec.method:<14} FAILED (see {args.results})")
                    continue
                m = record["metrics"]
                x = torch.from_numpy(np.load(store.folder(spec.run_id) / "samples.npz")["samples"])
                gap, var_ratio = signed_gap(*reference(dim), x)
                fit = record["profile"]["fit_cpu_s"]
                cached = "" if record["stages"]["built"] else " (model reused from the cache)"
                print(f"{dim:<2} {width:<5} {epochs:<6} {steps:<5} {spec.method:<14} {fit:9.1f}  {m['logq_gap']:8.3f} {gap:+8.3f} {var_ratio:6.3f}  "
                      f"{fl['noise']:.3f}/{fl['exact']:.3f}        {m['mmd']:.5f}   {m['mmd_floor']:.5f}{cached}", flush=True)


if __name__ == "__main__":
    main()
