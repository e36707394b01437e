"""Consolidate run records into a tidy frame and write the report folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from benchmark.registry import Registries
from benchmark.spec import RunSpec
from benchmark.status import status_frame
from benchmark.store import RunStore, atomic_write_text

SPEC_COLUMNS = ["run_id", "suite", "task", "task_params", "method", "n_target", "trial"]


def tidy_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per run x metric with the spec columns (task params as a compact string)."""
    rows = []
    for rec in records:
        spec = rec["spec"]
        extra = ",".join(f"{k}={v}" for k, v in sorted(spec["task_params"].items()) if k not in ("n_target", "n_eval"))
        for metric, value in sorted(rec.get("metrics", {}).items()):
            rows.append({
                "run_id": rec["run_id"], "suite": spec["suite"], "task": spec["task"], "task_params": extra,
                "method": spec["method"], "n_target": int(spec["task_params"].get("n_target", -1)),
                "trial": int(spec["trial"]), "metric": metric, "value": float(value),
            })
    frame = pd.DataFrame(rows, columns=SPEC_COLUMNS + ["metric", "value"])
    return frame.sort_values(SPEC_COLUMNS[2:] + ["metric"], kind="stable").reset_index(drop=True)


def summary_table(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows: methods; columns: n_target; cells 'mean ± std (k)' over trials."""
    sub = frame[frame.metric == metric]
    agg = sub.groupby(["method", "n_target"]).value.agg(["mean", "std", "count"]).reset_index()
    agg["cell"] = agg.apply(lambda r: f"{r['mean']:.4f} ± {0.0 if pd.isna(r['std']) else r['std']:.4f}", axis=1)
    return agg.pivot(index="method", columns="n_target", values="cell").fillna("–")


def build_report(results: Path, out: Path, regs: Registries, planned: Sequence[RunSpec] | None = None,
                 paper: bool = False) -> None:
    """Write ``records.csv``, ``missing.csv`` and one Markdown table per (task, metric)."""
    out.mkdir(parents=True, exist_ok=True)
    records = RunStore(results).done_records()
    frame = tidy_frame(records)
    atomic_write_text(out / "records.csv", frame.to_csv(index=False))
    if planned is not None:
        st = status_frame(planned, results)
        missing = st[st.status != "done"]
        atomic_write_text(out / "missing.csv", missing.to_csv(index=False))
    for (task, params), group in frame.groupby(["task", "task_params"]):
        name = task + (f"[{params}]" if params else "")
        lines = [f"# {name}", ""]
        for metric in sorted(group.metric.unique()):
            lines += [f"## {metric}", "", summary_table(group, metric).to_markdown(), ""]
        atomic_write_text(out / f"{name.replace('/', '_')}.md", "\n".join(lines))
