"""Every run a report knows about, planned or on disk, with its status and the reason.

A report reads ``<results>/runs/*`` (done, failed, corrupt or unfinished runs) and, when a
plan is given (``run --all``, ``report --suite NAME``), the planned specs.  Without a
plan the expected grid is inferred: within a task setting, every method variant is
expected at every n_target and trial that some run of that setting used.

Statuses: ``done``; ``failed``, ``corrupt``, ``running`` (from the run folder);
``not run`` (planned, no record); ``stale`` (a done record of an older schema, or only a
done record of the same cell with other hyper-parameters exists).

Names used throughout the report:
    setting: the task with its non-default parameters, e.g. ``gmm-highdim[dim=8]``
        (``n_target`` is a table column, never part of the setting).
    slug: the setting as a file-name-safe string, e.g. ``gmm-highdim_dim-8``.
    variant: the label the plan gave the run (``spec.variant``: the method, plus ``[tag]``
        of a tagged cell, e.g. ``tgdp-cycle[eta_cycle=0.1]``); rows of the tables.  Only
        where one label holds runs of different hyper-parameters within one draw (runs made
        with ``--set`` beside the suite's own, read without a plan) are the differing values
        appended.
    draw, holdout: a tuned method's runs of one cell (DESIGN §8): the default run (draw 0,
        holdout 0) and its holdout runs (holdout h > 0, draws 0..K-1); read as 0 from specs
        without them.  :mod:`benchmark.report.selected` keeps one of them per rule.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from benchmark import SCHEMA_VERSION
from benchmark.registry import Registries
from benchmark.report.metric_info import direction, fold_metrics, is_reference_method
from benchmark.spec import RunSpec, canonical_json
from benchmark.store import DONE, FAILED, MISSING, RUNNING, RunStore, read_regular_text

NOT_RUN, STALE = "not run", "stale"
RUN_COLUMNS = ["run_id", "suite", "task", "setting", "slug", "task_params", "method", "variant", "hparams",
               "n_target", "trial", "draw", "holdout", "status", "reason", "planned"]
TIDY_COLUMNS = ["run_id", "suite", "task", "setting", "task_params", "method", "variant", "hparams", "n_target",
                "trial", "draw", "holdout", "metric", "value", "lo", "hi", "direction"]
#: one run of a table row per (setting, variant, n_target, trial, draw, holdout)
RUN_KEY = ["setting", "variant", "n_target", "trial", "draw", "holdout"]


def _fmt_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def task_defaults(task: str, regs: Optional[Registries]) -> dict[str, Any]:
    """The task's parameter defaults (empty if the task is not registered here)."""
    if regs is None or task not in regs.tasks:
        return {}
    params = getattr(regs.tasks.get(task), "Params", None)
    if params is None or not dataclasses.is_dataclass(params):
        return {}
    return {f.name: f.default for f in dataclasses.fields(params) if f.default is not dataclasses.MISSING}


def setting_params(task: str, task_params: Mapping[str, Any], regs: Optional[Registries]) -> dict[str, Any]:
    """The task parameters that name a setting: all but n_target, less those at their default."""
    defaults = task_defaults(task, regs)
    return {k: v for k, v in sorted(task_params.items())
            if k != "n_target" and not (k in defaults and defaults[k] == v)}


def setting_label(task: str, params: Mapping[str, Any]) -> str:
    extra = ",".join(f"{k}={_fmt_value(v)}" for k, v in sorted(params.items()))
    return task + (f"[{extra}]" if extra else "")


def slugify(task: str, params: Mapping[str, Any]) -> str:
    """A file-name-safe setting name (also safe inside LaTeX ``\\input`` paths)."""
    parts = [task] + [f"{k}-{_fmt_value(v)}" for k, v in sorted(params.items())]
    return re.sub(r"[^A-Za-z0-9_-]", "", "_".join(parts).replace(".", "p"))


def method_order(variants: Sequence[str]) -> list[str]:
    """Competitors alphabetically, then reference methods (oracles) alphabetically."""
    uniq = sorted(set(variants))
    return [v for v in uniq if not is_reference_method(v)] + [v for v in uniq if is_reference_method(v)]


def _spec_of(store: RunStore, rid: str, record: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    if record is not None and isinstance(record.get("spec"), dict):
        return record["spec"]
    try:
        spec = json.loads(read_regular_text(store.folder(rid) / "spec.json"))
        return spec if RunSpec.from_dict(spec).run_id == rid else None  # a spec.json of another run: not this cell
    except Exception:  # unreadable, not JSON, not a spec
        return None


def _disk_rows(results: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    store = RunStore(results)
    rows, records = [], {}
    for rid in store.run_ids():
        st = store.state(rid)
        spec = _spec_of(store, rid, st.record)
        if spec is None:
            continue
        status, reason = st.status, st.reason
        if status == MISSING:
            status, reason = (RUNNING, "running") if store.is_locked(rid) else (NOT_RUN, "started, no record")
        elif status == DONE:
            version = st.record.get("schema_version")
            if version != SCHEMA_VERSION:
                status, reason = STALE, f"stale: record schema {version}, current {SCHEMA_VERSION}"
            else:
                records[rid] = st.record
        elif status == FAILED:
            err = st.record.get("error", {}) if st.record else {}
            reason = f"failed: {err.get('type', 'error')}: {err.get('message', '')}".rstrip(": ")
        rows.append({"run_id": rid, "spec": spec, "status": status, "reason": reason})
    return rows, records


def _cell_key(spec: Mapping[str, Any]) -> str:
    return canonical_json({**{k: spec[k] for k in ("task", "task_params", "method", "trial")},
                           "draw": int(spec.get("draw", 0)), "holdout": int(spec.get("holdout", 0))})


def _variant_labels(frame: pd.DataFrame) -> pd.Series:
    """The recorded label of each run; where one label of a setting covers runs of different
    hyper-parameters, the differing values are appended to keep the rows apart."""
    labels = frame["variant"].copy()
    for _, group in frame.groupby(["setting", "variant", "draw"], sort=False):  # draws differ by design
        dicts = [json.loads(h) for h in group["hparams"]]
        keys = sorted({k for d in dicts for k in d})
        varying = [k for k in keys if len({canonical_json(d.get(k)) for d in dicts}) > 1]
        if not varying:
            continue
        for idx, d in zip(group.index, dicts):
            extra = ",".join(f"{k}={_fmt_value(d.get(k))}" for k in varying)
            base = frame.at[idx, "variant"]
            labels[idx] = f"{base[:-1]},{extra}]" if base.endswith("]") else f"{base}[{extra}]"
    return labels


def _inferred_plan(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Grid holes: (setting, variant) x every n_target x every trial seen in the setting, of the
    default runs (draw 0, holdout 0; the holdout runs' grid is known only from a plan)."""
    rows = []
    for _, group in frame.groupby("setting", sort=True):
        ns, trials = sorted(group.n_target.unique()), sorted(group.trial.unique())
        for _, vgroup in group.groupby("variant", sort=True):
            default = vgroup[(vgroup.draw == 0) & (vgroup.holdout == 0)]
            have = set(zip(default.n_target, default.trial))
            first = (default if len(default) else vgroup).iloc[0]
            for n in ns:
                for trial in trials:
                    if (n, trial) not in have:
                        rows.append({**first.to_dict(), "run_id": "", "n_target": int(n), "trial": int(trial),
                                     "draw": 0, "holdout": 0, "status": NOT_RUN, "reason": NOT_RUN,
                                     "planned": False})
    return rows


@dataclass(frozen=True)
class RunSet:
    """The runs of a report: ``frame`` has one row per run (RUN_COLUMNS plus ``params``, the
    setting's parameter dict, ``spec_params``, all task parameters, and ``suite_seed``);
    ``records`` maps run_id -> done record (the ones tables and figures use)."""

    frame: pd.DataFrame
    records: Mapping[str, dict[str, Any]]
    plan: str  # "suite NAME" or "inferred grid"

    def done(self) -> pd.DataFrame:
        return self.frame[self.frame.status == DONE]

    def missing(self) -> pd.DataFrame:
        """Planned runs with no done record, each with its reason."""
        cols = ["setting", "variant", "n_target", "trial", "draw", "holdout", "run_id", "status", "reason"]
        miss = self.frame[self.frame.status != DONE]
        return miss[cols].sort_values(cols[:6], kind="stable").reset_index(drop=True)


def collect_runs(results: Path, regs: Optional[Registries] = None,
                 planned: Optional[Sequence[RunSpec]] = None) -> RunSet:
    """Read every run folder, join the plan (if any), label settings and variants.

    With a plan, only planned runs are kept (a results folder may hold other suites);
    without one, every run on disk is kept and the grid's holes are added as ``not run``.
    """
    disk, records = _disk_rows(Path(results))
    by_id = {r["run_id"]: r for r in disk}
    rows = []
    if planned is not None:
        done_cells: dict[str, str] = {_cell_key(r["spec"]): r["run_id"] for r in disk if r["status"] == DONE}
        for spec in planned:
            rid = spec.run_id
            row = by_id.get(rid)
            if row is None:
                other = done_cells.get(_cell_key(spec.to_dict()))
                row = {"run_id": rid, "spec": spec.to_dict(), "status": NOT_RUN, "reason": NOT_RUN}
                if other is not None:
                    row.update(status=STALE, reason=f"stale: only run {other} with other hyper-parameters is done")
            # the plan's provenance (suite, label) wins over the record's: a run planned by two
            # suites carries the label of the suite that happened to execute it first
            rows.append({**row, "spec": {**row["spec"], "suite": spec.suite, "variant": spec.label_of_variant()},
                         "planned": True})
        plan = "suite " + ", ".join(sorted({s.suite for s in planned})) if planned else "empty plan"
    else:
        rows = [{**r, "planned": False} for r in disk]
        plan = "inferred grid"
    out = []
    for r in rows:
        spec = r["spec"]
        params = setting_params(spec["task"], spec["task_params"], regs)
        out.append({
            "run_id": r["run_id"], "suite": spec.get("suite", ""), "task": spec["task"],
            "setting": setting_label(spec["task"], params), "slug": slugify(spec["task"], params),
            "task_params": ",".join(f"{k}={_fmt_value(v)}" for k, v in params.items()),
            "params": params, "spec_params": {**task_defaults(spec["task"], regs), **spec["task_params"]}, "suite_seed": int(spec.get("suite_seed", 0)),
            "method": spec["method"], "variant": spec.get("variant") or spec["method"],
            "hparams": canonical_json(spec.get("hparams", {})),
            "n_target": int(spec["task_params"].get("n_target", -1)), "trial": int(spec["trial"]),
            "draw": int(spec.get("draw", 0)), "holdout": int(spec.get("holdout", 0)), "status": r["status"], "reason": r["reason"], "planned": r["planned"],
        })
    frame = pd.DataFrame(out, columns=RUN_COLUMNS + ["params", "spec_params", "suite_seed"])
    if not frame.empty:
        frame["variant"] = _variant_labels(frame)
        # the same cell run under two suites counts once: keep a done run, else the first run id
        frame = frame.assign(_rank=(frame.status != DONE).astype(int))
        frame = frame.sort_values([*RUN_KEY, "_rank", "run_id"], kind="stable")
        frame = frame.drop_duplicates(RUN_KEY).drop(columns="_rank")
        if planned is None:
            frame = pd.concat([frame, pd.DataFrame(_inferred_plan(frame), columns=frame.columns)], ignore_index=True)
        frame = frame.sort_values([*RUN_KEY, "run_id"], kind="stable")
    frame = frame.reset_index(drop=True)
    used = {rid: records[rid] for rid in frame.run_id[frame.status == DONE] if rid in records}
    return RunSet(frame, used, plan)


def tidy_frame_from(runs: RunSet) -> pd.DataFrame:
    """One row per done run x metric, the spec columns first; ``_lo``/``_hi`` keys become
    the ``lo``/``hi`` columns of their metric's row."""
    rows = []
    for row in runs.done().itertuples(index=False):
        rec = runs.records[row.run_id]
        for metric, parts in fold_metrics(rec.get("metrics", {})).items():
            if "value" not in parts:
                continue
            rows.append({
                "run_id": row.run_id, "suite": row.suite, "task": row.task, "setting": row.setting,
                "task_params": row.task_params, "method": row.method, "variant": row.variant,
                "hparams": row.hparams, "n_target": row.n_target, "trial": row.trial, "draw": row.draw,
                "holdout": row.holdout, "metric": metric,
                "value": parts["value"], "lo": parts.get("lo"), "hi": parts.get("hi"),
                "direction": direction(metric) or "",
            })
    frame = pd.DataFrame(rows, columns=TIDY_COLUMNS)
    frame[["value", "lo", "hi"]] = frame[["value", "lo", "hi"]].astype(float)
    return frame.sort_values([*RUN_KEY, "metric"], kind="stable").reset_index(drop=True)
