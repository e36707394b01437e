"""Estimate the CPU time of a suite from a measured slice (a results folder of done runs).

    python scripts/suite_estimate.py SUITE RESULTS [--cores N]

Per (task, method) the median ``timings.cpu_s`` of the measured runs stands for every planned
run of that pair (a task's median over all its methods where the pair was not measured, the
slice's overall median where the task was not either); the source models are added once per
source group and trial of the plan (:func:`benchmark.planner.source_group`; the gmm tasks draw
a source pool per trial, so this is an upper bound for tasks that share one) at the median CPU seconds of
the source builds in the slice (``profile.stage_s``).  Medians keep the run that built a shared
stage from counting for all.  Prints the planned runs, the estimate in CPU hours and the wall
time on ``--cores`` cores at full use (a lower bound: the tail and the locks on shared stages
add to it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.planner import plan, source_group  # noqa: E402
from benchmark.registry import load_registries  # noqa: E402


def measured(results: Path) -> tuple[dict[tuple[str, str], list[float]], list[float]]:
    """((task, method) -> CPU seconds of its done runs, CPU seconds of each source build)."""
    per: dict[tuple[str, str], list[float]] = defaultdict(list)
    source: list[float] = []
    for path in sorted(results.glob("runs/*/record.json")):
        rec = json.loads(path.read_text())
        if rec.get("status") != "done" or "cpu_s" not in (rec.get("timings") or {}):
            continue
        per[(rec["spec"]["task"], rec["spec"]["method"])].append(float(rec["timings"]["cpu_s"]))
        for stage, t in ((rec.get("profile") or {}).get("stage_s") or {}).items():
            if stage.startswith("source/"):
                source.append(float(t["cpu_s"] if isinstance(t, dict) else t))
    return per, source


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suite")
    ap.add_argument("results", type=Path)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    regs = load_registries()
    specs = plan(regs.suites.get(args.suite)(), regs)
    per, source = measured(args.results)
    if not per:
        print(f"no done runs with timings under {args.results}", file=sys.stderr)
        return 2
    med = {k: statistics.median(v) for k, v in per.items()}
    by_task: dict[str, list[float]] = defaultdict(list)
    for (task, _), v in per.items():
        by_task[task] += v
    task_med = {t: statistics.median(v) for t, v in by_task.items()}
    overall = statistics.median([x for v in per.values() for x in v])
    total, fallback = 0.0, 0
    for spec in specs:
        value = med.get((spec.task, spec.method))
        if value is None:
            fallback += 1
            value = task_med.get(spec.task, overall)
        total += value
    groups = {(source_group(s, bool(getattr(regs.methods.get(s.method), "conditional", False))), s.trial)
              for s in specs}  # per trial: the gmm tasks draw a source pool per trial (an upper bound elsewhere)
    src = statistics.median(source) if source else 0.0
    total += len(groups) * src
    print(f"suite {args.suite}: {len(specs)} runs ({fallback} priced by their task's median), "
          f"{len(groups)} source groups at {src:.1f} CPU-s each")
    print(f"estimate: {total / 3600:.1f} CPU hours; {total / args.cores / 3600:.1f} h on {args.cores} cores at full use")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
