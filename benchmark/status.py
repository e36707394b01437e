"""Plan and status tables: done / failed / corrupt / running / missing per cell."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

import pandas as pd

from benchmark.spec import RunSpec, Suite
from benchmark.slurm_jobs import job_states
from benchmark.store import MISSING, RUNNING, RunStore


def _varying_params(specs: Sequence[RunSpec]) -> dict[str, set[str]]:
    """Per task, the task parameters (besides n_target) that take several values in ``specs``."""
    values: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for s in specs:
        for k, v in s.task_params.items():
            values[s.task][k].add(repr(v))
    return {task: {k for k, v in params.items() if len(v) > 1 and k != "n_target"} for task, params in values.items()}


def _cell(spec: RunSpec, varying: dict[str, set[str]] | None = None) -> tuple[str, str, int]:
    """(task label, method, n_target); the label names only the task parameters that vary."""
    keys = (varying or {}).get(spec.task, set())
    extra = ",".join(f"{k}={v}" for k, v in spec.task_params.items() if k in keys)
    return (spec.task + (f"[{extra}]" if extra else ""), spec.method, spec.n_target)


def format_plan(suite: Suite, specs: Sequence[RunSpec]) -> str:
    """The dry-run view: one line per cell with its trials and run ids."""
    groups: dict[tuple, list[RunSpec]] = defaultdict(list)
    varying = _varying_params(specs)
    for s in specs:
        groups[_cell(s, varying)].append(s)
    lines = [f"suite {suite.name} (seed {suite.seed}): {len(specs)} runs in {len(groups)} cells"]
    for (task, method, n), group in sorted(groups.items()):
        ids = " ".join(s.run_id[:8] for s in group)
        trials = ",".join(str(t) for t in sorted({s.trial for s in group}))
        draws = len({(s.draw, s.holdout) for s in group if s.holdout})
        protocol = f" +{draws} holdout draws" if draws else ""
        lines.append(f"  {task:<28} {method:<22} n_target={n:<6} trials={trials:<8} runs={len(group)}{protocol} {ids}")
    return "\n".join(lines)


def status_frame(specs: Sequence[RunSpec], results: Path) -> pd.DataFrame:
    """One row per planned run with its on-disk status and the reason."""
    store = RunStore(results)
    rows = []
    varying = _varying_params(specs)
    for s in specs:
        st = store.state(s.run_id)
        status = st.status
        if status == MISSING and store.is_locked(s.run_id):
            status = RUNNING
        task, method, n = _cell(s, varying)
        rows.append({"task": task, "method": method, "n_target": n, "trial": s.trial, "run_id": s.run_id,
                     "status": status, "reason": st.reason})
    # runs without a record that were submitted to SLURM: queued, running or failed there
    jobs = job_states([store.folder(r["run_id"]) for r in rows if r["status"] == MISSING])
    for r in rows:
        r["status"], r["reason"] = jobs.get(store.folder(r["run_id"]), (r["status"], r["reason"]))
    return pd.DataFrame(rows, columns=["task", "method", "n_target", "trial", "run_id", "status", "reason"])


def format_status(specs: Sequence[RunSpec], results: Path) -> str:
    """A table of counts per task x method x n_target, then failed/corrupt runs."""
    frame = status_frame(specs, Path(results))
    if frame.empty:
        return "no runs planned"
    counts = frame.pivot_table(index=["task", "method", "n_target"], columns="status", values="run_id",
                               aggfunc="count", fill_value=0)
    columns = ["done", "failed", "corrupt", "running", "missing"] + (["queued"] if "queued" in counts else [])
    for col in columns:
        if col not in counts:
            counts[col] = 0
    counts = counts[columns]
    out = [counts.to_string()]
    bad = frame[frame.status.isin(["failed", "corrupt"])]
    for row in bad.itertuples():
        out.append(f"{row.status}: {row.run_id} {row.task} {row.method} n={row.n_target} trial={row.trial}: {row.reason}")
    total = frame.status.value_counts().to_dict()
    out.append("total: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))
    return "\n".join(out)
