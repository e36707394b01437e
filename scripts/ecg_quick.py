"""Timings of the synthetic ECG task: simulator throughput, U-Net training speed, and the
ecg-synth part of the quick suite.

    python scripts/ecg_quick.py                     # all three (the suite part takes minutes)
    python scripts/ecg_quick.py --skip-suite        # the two micro-benchmarks only
    taskset -c 0,1 python scripts/ecg_quick.py      # emulate a 2-core machine

Each micro-benchmark reports the median of ``--repeats`` runs.  The suite part runs
``python -m benchmark run --suite quick --tasks ecg-synth --jobs 2`` in a fresh results
folder and reports its wall time; it also prints every run's recorded timings and, as an
estimate that needs no second full run, (sum of the runs' data+fit+sample+eval seconds) /
jobs.  ``--json PATH`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import dsm_loss
from benchmark.diffusion.unet1d import UNet1d
from benchmark.ecg.simulator import TARGET, simulate

REPO = Path(__file__).resolve().parent.parent


def simulator_seconds(n: int, length: int, repeats: int) -> float:
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        simulate(n, TARGET, torch.Generator().manual_seed(r), length=length)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def unet_samples_per_s(batch: int, steps: int, repeats: int, base: int = 16, levels: int = 3,
                       length: int = 256) -> float:
    torch.manual_seed(0)
    model = UNet1d((8, length), base, levels)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 8, length)
    gen = torch.Generator().manual_seed(0)
    sched = VPSchedule()

    def step() -> None:
        loss = dsm_loss(model, sched, x, None, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(batch * steps / (time.perf_counter() - t0))
    return statistics.median(rates)


def _time(fn, repeats: int, inner: int = 1) -> float:
    """Median seconds of one call of fn (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def component_seconds(repeats: int) -> dict[str, float]:
    """Seconds per unit of work at the quick ecg-synth sizes (one thread per job)."""
    from benchmark.suites import QUICK_ECG

    h = QUICK_ECG.hparams()["*"]
    clf_b, guid_b = h["clf_batch"], h["guid_batch"]
    from benchmark.diffusion.conv1d import ScalarConv1d
    from benchmark.metrics.context import EvalContext
    from benchmark.metrics.ecg_metrics import ecg_downstream, ecg_features
    from benchmark.registry import load_registries

    torch.manual_seed(0)
    shape, sched = (8, 256), VPSchedule()
    unet, gen = UNet1d(shape, 16, 3), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(unet.parameters(), lr=1e-3)

    def unet_step(b: int) -> None:
        loss = dsm_loss(unet, sched, torch.randn(b, *shape), None, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()

    clf, guid = ScalarConv1d(shape, 16, 3, time=False), ScalarConv1d(shape, 16, 3, time=True)
    copt = torch.optim.Adam([*clf.parameters(), *guid.parameters()], lr=1e-3)

    def scalar_step(net, b: int, t: bool) -> None:
        loss = net(torch.randn(b, *shape), torch.rand(b) if t else None).pow(2).mean()
        copt.zero_grad()
        loss.backward()
        copt.step()

    def consistency_step(b: int) -> None:  # guidance + cycle + consistency terms of tgdp-reg
        x = torch.randn(b, *shape, requires_grad=True)
        t = torch.rand(b)
        (grad,) = torch.autograd.grad(guid(x, t).sum(), x, create_graph=True)
        with torch.no_grad():
            eps = unet(x, t)
        loss = guid(torch.randn(b, *shape), t).pow(2).mean() + guid(x, t).pow(2).mean() + (eps - grad).pow(2).mean()
        copt.zero_grad()
        loss.backward()
        copt.step()

    def guided_nfe(b: int) -> None:
        x = torch.randn(b, *shape)
        t = torch.rand(b)
        with torch.no_grad():
            unet(x, t)
        xg = x.requires_grad_(True)
        torch.autograd.grad(guid(xg, t).sum(), xg)

    regs = load_registries()
    task_cls = regs.tasks.get("ecg-synth")
    build = lambda: task_cls(task_cls.Params(), 0, 0).build()
    data = build()
    ctx = EvalContext(data=data, samples=data.source_x[:500], labels=None, seed=0, device=torch.device("cpu"))
    from benchmark.artifacts import ArtifactCache

    ctx.cache = ArtifactCache(Path(tempfile.mkdtemp(prefix="ecg-bench-")))
    t0 = time.perf_counter()
    ecg_downstream(ctx)
    ecg_features(ctx)
    first_eval = time.perf_counter() - t0
    with torch.no_grad():
        fwd500 = _time(lambda: unet(torch.randn(500, *shape), torch.rand(500)), repeats)
    return {
        "unet_step_b64": _time(lambda: unet_step(64), repeats, 5),
        "unet_step_b50": _time(lambda: unet_step(50), repeats, 5),
        "unet_forward_b500": fwd500,
        "guided_nfe_b500": _time(lambda: guided_nfe(500), repeats),
        "classifier_step": _time(lambda: scalar_step(clf, 2 * clf_b, False), repeats, 5),  # source + target
        "guidance_step": _time(lambda: scalar_step(guid, guid_b, True), repeats, 5),
        "tgdp_reg_guidance_step": _time(lambda: consistency_step(guid_b), repeats, 3),
        "data_build": _time(build, max(1, repeats // 2)),
        "eval_per_run": _time(lambda: (ecg_downstream(ctx), ecg_features(ctx)), max(1, repeats // 2)),
        "eval_cached_stages_once": first_eval,
    }


def quick_estimate(c: dict[str, float], jobs: int) -> dict[str, float]:
    """CPU seconds of the quick ecg-synth cell from the component times and its settings
    (benchmark.suites.QUICK_ECG): 2 source models, per n_target scratch/finetune/LoRA,
    the TGDP classifiers and guidance networks, 16 runs' data, sampling and evaluation."""
    from benchmark.suites import QUICK_ECG

    from benchmark.registry import load_registries

    h, task_params = QUICK_ECG.hparams()["*"], load_registries().tasks.get("ecg-synth").Params()
    n_source, n_eval, nfe = task_params.n_source, task_params.n_eval, 2 * h["sample_steps"]
    src_steps = h["source_epochs"] * -(-n_source // h["batch"])
    unet = {50: c["unet_step_b50"], 200: c["unet_step_b64"]}
    parts = {"source models": 2 * src_steps * c["unet_step_b64"]}
    parts["adaptation (scratch, finetune, lora)"] = sum(
        (h["steps"] + h["finetune_steps"] + 1.15 * h["finetune_steps"]) * unet[n] for n in (50, 200))
    parts["tgdp stages"] = 2 * (3 * h["clf_steps"] * c["classifier_step"]
                                + 2 * h["guid_steps"] * c["guidance_step"]
                                + h["guid_steps"] * c["tgdp_reg_guidance_step"])
    per_nfe = 4 * c["unet_forward_b500"] + 2 * c["unet_forward_b500"] + 3 * c["guided_nfe_b500"]
    parts["sampling"] = 2 * nfe * per_nfe * n_eval / 500
    parts["data and evaluation"] = 16 * (c["data_build"] + c["eval_per_run"]) + c["eval_cached_stages_once"]
    total = sum(parts.values())
    return {**{k: round(v, 1) for k, v in parts.items()}, "cpu_total_s": round(total, 1),
            f"wall_estimate_s_jobs{jobs}": round(total / jobs, 1)}


def run_quick_cell(results: Path, jobs: int, timeout: float, extra: tuple[str, ...] = ()) -> dict:
    threads = max(1, len(os.sched_getaffinity(0)) // jobs)  # the cores this process may use (taskset)
    cmd = [sys.executable, "-m", "benchmark", "run", "--suite", "quick", "--tasks", "ecg-synth", "--jobs", str(jobs),
           "--threads", str(threads), "--results", str(results), "--no-report", "--quiet", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        wall, rc = time.perf_counter() - t0, proc.returncode
        tail = (proc.stdout + proc.stderr)[-2000:]
    except subprocess.TimeoutExpired:
        wall, rc, tail = time.perf_counter() - t0, None, "timed out"
    runs = []
    for rec_path in sorted(results.glob("runs/*/record.json")):
        rec = json.loads(rec_path.read_text())
        t = rec.get("timings", {})
        runs.append({"method": rec["spec"]["method"], "n_target": rec["spec"]["task_params"].get("n_target"),
                     "status": rec.get("status"), **{k: round(v, 1) for k, v in t.items()},
                     "built": rec.get("stages", {}).get("built", []), "metrics": rec.get("metrics", {}),
                     "error": rec.get("error", {}).get("message")})
    busy = sum(r.get("data_s", 0) + r.get("fit_s", 0) + r.get("sample_s", 0) + r.get("eval_s", 0) for r in runs)
    return {"wall_s": round(wall, 1), "returncode": rc, "runs": runs, "run_seconds_sum": round(busy, 1),
            "estimate_s": round(busy / jobs, 1), "output_tail": tail}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--skip-suite", action="store_true")
    ap.add_argument("--skip-micro", action="store_true", help="only the suite part")
    ap.add_argument("--components", action="store_true",
                    help="time the pieces of the quick ecg-synth cell and estimate its CPU time from them")
    ap.add_argument("--suite-timeout", type=float, default=3600.0)
    ap.add_argument("--results", type=Path, default=None, help="results folder for the suite part (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--device", default="cpu", help="--device of the suite part (cpu or cuda)")
    args = ap.parse_args()
    out: dict = {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "torch": torch.__version__}
    for threads in () if args.skip_micro else (1, 2):
        torch.set_num_threads(threads)
        out[f"simulate_10000x256_s_threads{threads}"] = round(simulator_seconds(10_000, 256, args.repeats), 3)
        out[f"unet16x3_train_samples_per_s_batch64_threads{threads}"] = round(
            unet_samples_per_s(64, 10, args.repeats), 1)
        print(json.dumps({k: v for k, v in out.items() if k.endswith(f"threads{threads}")}), flush=True)
    if args.components:
        torch.set_num_threads(1)
        comp = component_seconds(args.repeats)
        out["components_s"] = {k: round(v, 4) for k, v in comp.items()}
        out["quick_estimate"] = quick_estimate(comp, args.jobs)
        print(json.dumps(out["components_s"]), "\n", json.dumps(out["quick_estimate"]), flush=True)
    if not args.skip_suite:
        folder = args.results or Path(tempfile.mkdtemp(prefix="ecg-quick-"))
        suite = run_quick_cell(folder, args.jobs, args.suite_timeout, ("--device", args.device))
        out["quick_ecg_synth"] = suite
        for r in suite["runs"]:
            print(f"  {r['method']:16s} n={r['n_target']:<4} {r['status']:6s} data {r.get('data_s')}s "
                  f"fit {r.get('fit_s')}s sample {r.get('sample_s')}s eval {r.get('eval_s')}s built {r['built']}")
        print(f"quick ecg-synth part, --jobs {args.jobs}: wall {suite['wall_s']} s (returncode {suite['returncode']}); "
              f"sum of run times / jobs = {suite['estimate_s']} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
