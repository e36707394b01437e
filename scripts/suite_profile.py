"""Where the time of a suite went, from its results folder.

    python scripts/suite_profile.py RESULTS [--cores N] [--markdown] [--cpu]

Reads every done record under ``RESULTS/runs/*/record.json`` and prints, per task and in total,
the wall seconds spent in each stage kind:

- training stages, by the artifact-cache stage that was built (``source``, ``finetune``,
  ``classifier`` (incl. ``time-classifier``), ``guidance``, and the other denoiser stages such as
  ``scratch`` or ``target-oracle``), exclusive of stages nested in them;
- ``fit (rest)``: the part of ``fit_s`` outside those builds (loading cached stages, the source
  log-ratios, diagnostics);
- ``sampling`` (``sample_s``) and ``data`` (``data_s``);
- each evaluation metric (``metric <name>``); for the ECG metrics the cached classifiers they
  build are split out: ``ecg downstream real-only`` (the cached real-only classifier),
  ``ecg downstream augmented`` (the per-run classifier on real + generated records, and the
  bootstrap), ``ecg feature classifier`` (the cached feature extractor) and ``metric ecg_features``
  (the rest); likewise ``mmd reference (cached)`` (b_med, reference kernel sums, mmd_floor: built
  once per held-out set inside ``mmd``);

and the share of the wall time the CPUs were busy:
``busy = sum of the runs' CPU seconds / (span x cores)`` with ``span`` = last finish - first start
and ``cores`` = ``--cores`` (default: the CPUs this process may use).  CPU seconds are the runs'
``timings.cpu_s`` (process CPU time; older records without it count their wall time).  Per-stage
seconds need records written with the ``profile`` block (stage build and metric times); an older
record's ``fit_s`` is attributed to its one built stage when it built exactly one, else to
``fit (unattributed)``.  ``--cpu`` prints CPU seconds instead (``data`` is then 0: it has no CPU
timer); on a machine shared with other jobs they measure the work, wall seconds the waiting too.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

CLASSIFIER_STAGES = {"classifier": "classifier", "time-classifier": "classifier"}
EVAL_STAGES = {"ecg-downstream-real": ("ecg_downstream", "ecg downstream real-only"),
               "ecg-feature-classifier": ("ecg_features", "ecg feature classifier"),
               "mmd-reference": ("mmd", "mmd reference (cached)")}
METRIC_LABELS = {"ecg_downstream": "ecg downstream augmented"}


def load(results: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(Path(results).glob("runs/*/record.json")):
        try:
            rec = json.loads(path.read_text())
        except ValueError:
            continue
        if rec.get("status") == "done":
            out.append(rec)
    return out


def stage_kind(stage: str) -> str:
    return CLASSIFIER_STAGES.get(stage, stage)


def attribute(rec: dict[str, Any], cpu: bool = False) -> dict[str, float]:
    """Wall (or, with ``cpu``, CPU) seconds of one run per stage kind (the wall seconds sum to
    data_s + fit_s + sample_s + eval_s).  CPU mode needs records with the ``profile`` block."""
    t = rec.get("timings", {})
    out: dict[str, float] = defaultdict(float)
    prof = rec.get("profile")
    if cpu and prof is None:
        return out
    field = "cpu_s" if cpu else "wall_s"
    out["data"] += 0.0 if cpu else t.get("data_s", 0.0)
    out["sampling"] += prof["sample_cpu_s"] if cpu else t.get("sample_s", 0.0)
    fit = prof["fit_cpu_s"] if cpu else t.get("fit_s", 0.0)
    if prof is None:
        built = [s.split("/")[0] for s in rec.get("stages", {}).get("built", [])]
        fit_built = [s for s in built if s not in EVAL_STAGES]
        out[stage_kind(fit_built[0]) if len(fit_built) == 1 else "fit (unattributed)"] += fit
        out["eval (unattributed)"] += t.get("eval_s", 0.0)
        return out
    metric_s = {k: v[field] for k, v in prof.get("metric_s", {}).items()}
    all_metrics = sum(metric_s.values())
    for key, times in prof.get("stage_s", {}).items():
        stage = key.split("/")[0]
        if stage in EVAL_STAGES:
            metric, label = EVAL_STAGES[stage]
            out[label] += times[field]
            metric_s[metric] = metric_s.get(metric, 0.0) - times[field]
        else:
            out[stage_kind(stage)] += times[field]
            fit -= times[field]
    out["fit (rest)"] += max(fit, 0.0)
    for name, sec in metric_s.items():
        out[METRIC_LABELS.get(name, f"metric {name}")] += max(sec, 0.0)
    if not cpu:
        out["eval (rest)"] += max(t.get("eval_s", 0.0) - all_metrics, 0.0)
    return out


def profile(recs: list[dict[str, Any]], cpu: bool = False) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    table: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    runs: dict[str, int] = defaultdict(int)
    for rec in recs:
        task = rec["spec"]["task"]
        runs[task] += 1
        for kind, sec in attribute(rec, cpu).items():
            table[task][kind] += sec
    return table, runs


ORDER = ["source", "finetune", "classifier", "guidance"]


def format_table(table: dict[str, dict[str, float]], runs: dict[str, int], markdown: bool, unit: str = "wall") -> str:
    tasks = sorted(table)
    kinds = set().union(*(table[t] for t in tasks)) if tasks else set()
    tail = ["fit (rest)", "fit (unattributed)", "sampling"]
    evals = sorted(k for k in kinds if k not in ORDER and k not in tail and k != "data")
    other = sorted(k for k in evals if not (k.startswith("metric") or k.startswith("ecg") or k.startswith("eval")))
    evals = [k for k in evals if k not in other]
    rows = [k for k in ORDER + other + tail + evals + ["data"] if k in kinds]
    cols = tasks + ["total"]
    total = {k: sum(table[t].get(k, 0.0) for t in tasks) for k in rows}
    grand = {t: sum(table[t].values()) for t in tasks}
    grand["total"] = sum(grand.values())
    width = max([len(r) for r in rows] + [10])
    lines = []
    if markdown:
        lines.append(f"| stage ({unit} s, share) | " + " | ".join(f"{c} ({runs.get(c, sum(runs.values()))} runs)" for c in cols) + " |")
        lines.append("|---|" + "---:|" * len(cols))
    else:
        lines.append(f"{'stage (' + unit + ' s, share)':{width + 2}}" + "".join(f"{c:>22}" for c in cols))
    for k in rows + ["all"]:
        cells = []
        for c in cols:
            v = (total[k] if c == "total" else table[c].get(k, 0.0)) if k != "all" else grand[c]
            cells.append(f"{v:8.1f} s {v / grand[c] if grand[c] else 0:6.1%}")
        if markdown:
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        else:
            lines.append(f"{k:{width + 2}}" + "".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)


def busy_share(recs: list[dict[str, Any]], cores: int) -> tuple[float, float, float]:
    """(span s, summed CPU s, busy share)."""
    if not recs:
        return 0.0, 0.0, 0.0
    span = max(r["finished"] for r in recs) - min(r["started"] for r in recs)
    cpu = sum(r["timings"].get("cpu_s", r["finished"] - r["started"]) for r in recs)
    return span, cpu, cpu / (span * cores) if span > 0 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--cpu", action="store_true", help="CPU seconds instead of wall seconds (records with a profile block)")
    args = ap.parse_args()
    recs = load(args.results)
    if not recs:
        raise SystemExit(f"no done records under {args.results}/runs; give a results folder of `python -m benchmark run`")
    table, runs = profile(recs, args.cpu)
    print(format_table(table, runs, args.markdown, "CPU" if args.cpu else "wall"))
    span, cpu, busy = busy_share(recs, args.cores)
    walls = sum(r["finished"] - r["started"] for r in recs)
    print(f"\n{len(recs)} runs; span {span:.0f} s (first start to last finish), summed run wall {walls:.0f} s, "
          f"summed run CPU {cpu:.0f} s; CPUs busy {busy:.0%} of span x {args.cores} cores")


if __name__ == "__main__":
    main()
