"""Compare two executions of a suite cell by cell: is each "after" mean within the seed spread?

    python scripts/compare_tables.py BEFORE AFTER [--metrics mmd density_error] [--changed-only]

BEFORE and AFTER are each a reference file (``results/reference/<suite>.jsonl``) or a results
folder.  Cells are (task, method, n_target, hparams except those in ``--ignore``); runs are
grouped over their trials.  A cell "moved" when |mean_after - mean_before| exceeds the larger of the
two seed standard deviations (over trials); the table lists each cell's means, spreads and that flag.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from benchmark.report.reference import load_reference

#: hparams that may differ between BEFORE and AFTER without splitting a cell (budget sizes and
#: sampler variants, the changes this script is for); ``--ignore`` replaces the set
BUDGET_KEYS = ("guid_width", "tclf_width", "lagged_guidance")


def records(source: Path) -> Iterable[dict[str, Any]]:
    """The done records of a results folder, or the rows of a reference file."""
    if source.is_file():
        yield from load_reference(source).records
        return
    for path in sorted(source.glob("runs/*/record.json")):
        rec = json.loads(path.read_text())
        if rec.get("status") == "done":
            yield rec


def cell_key(spec: dict[str, Any], ignore: Iterable[str] = BUDGET_KEYS) -> tuple:
    hp = {k: v for k, v in spec.get("hparams", {}).items() if k not in set(ignore)}
    tp = spec.get("task_params", {})
    return (spec["task"], spec["method"], tp.get("n_target"), json.dumps(hp, sort_keys=True))


def grouped(source: Path, metric: str, ignore: Iterable[str] = BUDGET_KEYS) -> dict[tuple, list[float]]:
    out: dict[tuple, list[float]] = defaultdict(list)
    for rec in records(source):
        value = (rec.get("metrics") or {}).get(metric)
        if isinstance(value, (int, float)):
            out[cell_key(rec["spec"], ignore)].append(float(value))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--metrics", nargs="+", default=["mmd", "density_error"])
    ap.add_argument("--changed-only", action="store_true", help="list only cells whose values differ")
    ap.add_argument("--ignore", nargs="*", default=list(BUDGET_KEYS),
                    help=f"hparams left out of the cell key (default: {' '.join(BUDGET_KEYS)})")
    args = ap.parse_args()
    for metric in args.metrics:
        before, after = grouped(args.before, metric, args.ignore), grouped(args.after, metric, args.ignore)
        print(f"\n{metric}: | task | method | n | before mean (sd) | after mean (sd) | moved |")
        moved = same = 0
        for key in sorted(set(before) & set(after), key=str):
            b, a = before[key], after[key]
            if args.changed_only and sorted(a) == sorted(b):
                same += 1
                continue
            sd = max(statistics.pstdev(b) if len(b) > 1 else 0.0, statistics.pstdev(a) if len(a) > 1 else 0.0)
            flag = abs(statistics.mean(a) - statistics.mean(b)) > sd
            moved += flag
            task, method, n, hp = key
            tag = "" if hp == "{}" else " " + ",".join(f"{k}={v}" for k, v in json.loads(hp).items()
                                                        if k in ("guidance_loss", "target_mix", "w"))
            print(f"| {task} | {method}{tag} | {n} | {statistics.mean(b):.4g} ({statistics.pstdev(b):.2g}) "
                  f"| {statistics.mean(a):.4g} ({statistics.pstdev(a):.2g}) | {'MOVED' if flag else ''} |")
        print(f"{metric}: {moved} cells moved beyond the seed spread; {same} identical cells not listed")


if __name__ == "__main__":
    main()
