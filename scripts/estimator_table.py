"""The estimator x n_target table of docs/results.md, from a reference file or a results folder.

    python scripts/estimator_table.py [results/reference/quick.jsonl | RESULTS_DIR] [--task gmm2d]

For every TGDP-family row (method and guidance_loss) and n_target: MMD² to the target, the cosine
of grad log h-hat against grad log h* at t = 0.05 and 0.2 (under q_t), and the effective sample size
and mean of the classifier's ratio weights over the source samples, each a mean over seeds.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
from pathlib import Path


def load(path: Path) -> list[dict]:
    if path.is_dir():
        recs = [json.loads(p.read_text()) for p in sorted(path.glob("runs/*/record.json"))]
        return [r for r in recs if r.get("status") == "done"]
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", default="results/reference/quick.jsonl")
    ap.add_argument("--task", default="gmm2d")
    args = ap.parse_args()
    cells: dict[tuple, list[dict]] = collections.defaultdict(list)
    for rec in load(Path(args.source)):
        spec = rec["spec"]
        if spec["task"] != args.task or "grad_cos_t0.05" not in rec["metrics"]:
            continue
        loss = spec["hparams"].get("guidance_loss") or "l2"
        cells[(spec["method"], loss, spec["task_params"]["n_target"])].append(rec["metrics"])

    def mean(ms: list[dict], key: str) -> str:
        vals = [m[key] for m in ms if key in m]
        return f"{statistics.mean(vals):.3g}" if vals else "–"

    print("| method | guidance_loss | n | MMD² | cos t=0.05 | cos t=0.2 | ratio ESS | ratio mean | seeds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (method, loss, n), ms in sorted(cells.items()):
        print(f"| {method} | {loss} | {n} | {mean(ms, 'mmd')} | {mean(ms, 'grad_cos_t0.05')} | {mean(ms, 'grad_cos_t0.2')} "
              f"| {mean(ms, 'ratio_ess')} | {mean(ms, 'ratio_mean')} | {len(ms)} |")


if __name__ == "__main__":
    main()
