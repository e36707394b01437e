"""Compare the records of two executions of the same runs (used by gpu_check.sh).

    python scripts/compare_runs.py FIRST SECOND [--cpu CPU_RESULTS] [--match-spec]

FIRST and SECOND are results folders of the same suite (e.g. two ``--device cuda
--deterministic`` executions): every run must be done in both, with bit-identical metrics.
With ``--cpu``, the CPU execution's metrics are compared too (informational: GPU and CPU
kernels round differently, so the trained models and metrics differ), and the fit and
sample seconds of both devices are summed.  The last line is the verdict: ``GPU check: PASS``
with ``--cpu`` (the form gpu_check.sh prints), else ``same records: PASS`` (e.g. two CPU
executions of ``run --all``).  Exit status 0 when FIRST and SECOND agree.

``--match-spec`` pairs runs by what they compute (the spec without its provenance: suite
name and variant label) instead of by run id, so that records made before and after a
change of the run-id definition can be compared; either side may then also be a reference
file (``results/reference/quick.jsonl``: one record per line, all done).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any


PROVENANCE = ("suite", "variant")


def identity(spec: dict[str, Any]) -> str:
    """The spec's identity as canonical JSON (what is computed; threads = 1 left out)."""
    core = {k: v for k, v in spec.items() if k not in PROVENANCE and not (k == "threads" and v == 1)}
    return json.dumps(core, sort_keys=True, separators=(",", ":"))


def load(results: Path, match_spec: bool = False) -> dict[str, dict[str, Any]]:
    if results.suffix == ".jsonl":
        rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        recs = {r["run_id"]: {"status": "done", "environment": {"device": "reference file"}, **r} for r in rows}
    else:
        recs = _load_folder(results)
    return {identity(r.get("spec", {})) if match_spec else rid: r for rid, r in recs.items()}


def _load_folder(results: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(Path(results).glob("runs/*/record.json")):
        try:
            out[path.parent.name] = json.loads(path.read_text())
        except ValueError:
            out[path.parent.name] = {"status": "corrupt", "spec": {}}
    return out


def label(rec: dict[str, Any]) -> str:
    spec = rec.get("spec", {})
    return f"{spec.get('task', '?')} {spec.get('method', '?')}"


def rel_diff(a: float, b: float) -> float:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def seconds(recs: dict[str, dict[str, Any]], key: str) -> float:
    return sum(r.get("timings", {}).get(key, 0.0) for r in recs.values() if r.get("status") == "done")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("first", type=Path)
    p.add_argument("second", type=Path)
    p.add_argument("--cpu", type=Path, default=None)
    p.add_argument("--match-spec", action="store_true", help="pair runs by their spec, not their run id")
    args = p.parse_args()
    a, b = load(args.first, args.match_spec), load(args.second, args.match_spec)
    ok = True
    for name, recs in (("first", a), ("second", b)):
        failed = {rid: r for rid, r in recs.items() if r.get("status") != "done"}
        done = len(recs) - len(failed)
        device = next((r["environment"].get("device_name", r["environment"]["device"]) for r in recs.values()
                       if r.get("status") == "done"), "?")
        print(f"{name}: {done} done, {len(failed)} not done ({device})")
        for rid, r in list(failed.items())[:10]:
            print(f"  {r.get('status')}: {rid[:8]} {label(r)}: {r.get('error', {}).get('message', '')[:160]}")
        ok &= not failed and done > 0
    common = sorted(set(a) & set(b))
    same = [rid for rid in common if a[rid].get("metrics") == b[rid].get("metrics") and a[rid].get("status") == "done"]
    print(f"determinism: {len(same)} of {len(common)} runs bit-identical between the two executions"
          f"{'' if len(common) == len(a) == len(b) else ' (run sets differ)'}")
    for rid in [r for r in common if r not in same][:10]:
        ma, mb = a[rid].get("metrics", {}), b[rid].get("metrics", {})
        worst = max((rel_diff(ma[k], mb[k]), k) for k in set(ma) & set(mb)) if set(ma) & set(mb) else (math.nan, "-")
        print(f"  differs: {a[rid].get('run_id', rid)[:8]} {label(a[rid])}: max relative difference {worst[0]:.3g} ({worst[1]})")
    ok &= len(same) == len(common) == len(a) == len(b)
    if args.cpu is not None:
        c = load(args.cpu, args.match_spec)
        both = [rid for rid in sorted(set(a) & set(c)) if a[rid].get("status") == c[rid].get("status") == "done"]
        diffs = [rel_diff(a[rid]["metrics"][k], c[rid]["metrics"][k]) for rid in both
                 for k in set(a[rid]["metrics"]) & set(c[rid]["metrics"])]
        if diffs:
            print(f"cuda vs cpu metrics (informational): {len(both)} runs, relative difference median "
                  f"{statistics.median(diffs):.3g}, max {max(diffs):.3g}")
        for key in ("fit_s", "sample_s"):
            ga, gc = seconds(a, key), seconds(c, key)
            print(f"  sum of {key:<8}  cuda {ga:7.1f} s   cpu {gc:7.1f} s   cpu/cuda x{gc / ga if ga else math.nan:.2f}")
    verdict = "GPU check" if args.cpu is not None else "same records"
    print(f"{verdict}: {'PASS' if ok else 'FAIL'} (every run done in both, metrics bit-identical)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
