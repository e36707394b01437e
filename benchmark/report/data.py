"""What a figure function receives: the runs, the tidy metrics and the run folders' arrays.

Figures are computed from records and the arrays saved beside them only (``samples.npz``:
``samples`` (N, *shape) and, for conditional methods, ``labels`` (N,); ``outputs.npz``:
what a method kept for figures, e.g. ``grid_x``, ``grid_y``, ``log_r_exact``,
``log_r_hat`` (G, G) of the density-ratio grid) and the figure data the runner wrote with
the run (:mod:`benchmark.figure_data`: exact target densities, held-out points), named and
hashed in the record.  No task is rebuilt: a figure is a function of the records.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    #: the selection rule whose runs ``runs`` holds (:mod:`benchmark.report.selected`); figures that
    #: compare methods name it
    rule: str = "default"

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

    def figure_data(self, run: pd.Series) -> Optional[dict[str, np.ndarray]]:
        """The figure data the record of ``run`` names (:mod:`benchmark.figure_data`), or None
        (an older record, a results folder without its artifacts, a damaged file)."""
        from benchmark.figure_data import read_figure_data

        return read_figure_data(self.results / "artifacts", self.record(run.run_id).get("figure_data"))
