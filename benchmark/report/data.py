"""What a figure function receives: the runs, the tidy metrics and the run folders' arrays.

Figures are computed from records and the arrays saved beside them only (``samples.npz``:
``samples`` (N, *shape) and, for conditional methods, ``labels`` (N,); ``outputs.npz``:
what a method kept for figures, e.g. ``grid_x``, ``grid_y``, ``log_r_exact``,
``log_r_hat`` (G, G) of the density-ratio grid).  Closed-form densities come from the
task's ``build().closed_form`` (exact math, no training).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from benchmark.registry import Registries
from benchmark.report.runs import RunSet, method_order


class FigureSkipped(Exception):
    """Raised by a figure function when its records do not hold what it draws; the
    message (one line) is the reason listed in ``reports/README.md``."""


@dataclass(frozen=True)
class ReportData:
    """The input of every figure function ``f(data) -> {variant_name: Figure}``."""

    results: Path
    runs: RunSet
    tidy: pd.DataFrame
    regs: Optional[Registries] = None
    _tasks: dict = field(default_factory=dict, repr=False, compare=False)  # built TaskData, per report

    def done(self, setting: Optional[str] = None) -> pd.DataFrame:
        frame = self.runs.done()
        return frame if setting is None else frame[frame.setting == setting]

    def settings(self) -> list[str]:
        return sorted(self.done().setting.unique())

    def variants(self, setting: str) -> list[str]:
        return method_order(list(self.done(setting).variant))

    def record(self, run_id: str) -> dict[str, Any]:
        return self.runs.records[run_id]

    def arrays(self, run_id: str, name: str = "samples.npz") -> Optional[dict[str, np.ndarray]]:
        """The arrays of ``runs/<run_id>/<name>``, or None if the file is absent or unreadable
        (missing, truncated, not a zip: a figure never fails on one damaged file)."""
        path = self.results / "runs" / run_id / name
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # noqa: BLE001 (OSError, ValueError, zipfile.BadZipFile, EOFError, ...)
            return None

    def first_run(self, setting: str, variant: str, n_target: int) -> Optional[pd.Series]:
        """The done run of the cell with the smallest trial (the fixed one figures show)."""
        d = self.done(setting)
        d = d[(d.variant == variant) & (d.n_target == n_target)].sort_values("trial")
        return None if d.empty else d.iloc[0]

    def sample_shape(self, setting: str) -> Optional[tuple[int, ...]]:
        """The shape of one sample in ``setting`` (from its first readable samples.npz)."""
        for rid in self.done(setting).run_id:
            arrays = self.arrays(rid)
            if arrays is not None and "samples" in arrays:
                return tuple(arrays["samples"].shape[1:])
        return None

    def task_data(self, run: pd.Series) -> Any:
        """``TaskData`` of a run's task (closed forms, held-out data), or None if the task is
        not registered here or cannot be built (e.g. its data folder is absent)."""
        if self.regs is None or run.task not in self.regs.tasks:
            return None
        key = (run.task, json.dumps(run.spec_params, sort_keys=True), int(run.suite_seed), int(run.trial))
        if key not in self._tasks:
            from benchmark.params import resolve_params

            task_cls = self.regs.tasks.get(run.task)
            try:
                params = resolve_params(task_cls.Params, run.spec_params, owner=run.task)
                self._tasks[key] = task_cls(params, int(run.suite_seed), int(run.trial)).build()
            except Exception:  # a report never fails on a task it cannot rebuild
                self._tasks[key] = None
        return self._tasks[key]
