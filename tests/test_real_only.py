"""The ``real-only`` reference row of downstream metrics: the recorded downstream_real_<x> of
each trial, and each row's paired difference against it (the gain)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.registry import load_registries
from benchmark.report.reference import Reference, _materialise
from benchmark.report.runs import collect_runs, tidy_frame_from
from benchmark.report.tables import REAL_ONLY, table_data, to_long_csv, to_markdown
from benchmark.spec import RunSpec


def _table(tmp_path: Path, trials: int):
    records = []
    for method, auc in (("source-only", 0.70), ("finetune", 0.72), ("tgdp", 0.66)):
        for trial in range(trials):
            spec = RunSpec("synthetic", 0, "ecg-synth", {"n_target": 50}, method, {}, trial)
            metrics = {"downstream_auc": auc + 0.01 * trial, "downstream_auc_lo": auc - 0.02,
                       "downstream_auc_hi": auc + 0.02, "downstream_real_auc": 0.69 + 0.01 * trial,
                       "downstream_real_auc_lo": 0.67, "downstream_real_auc_hi": 0.71}
            records.append({"run_id": spec.run_id, "spec": spec.to_dict(), "metrics": metrics,
                            "timings": {"fit_s": 1.0, "sample_s": 0.5}})
    _materialise(Reference("synthetic", tuple(records)), tmp_path)
    regs = load_registries()
    runs = collect_runs(tmp_path, regs)
    setting = runs.frame.setting.iloc[0]
    return table_data(runs, tidy_frame_from(runs), setting, ["downstream_auc"], regs.methods)


def test_real_only_row_and_gain_one_trial(tmp_path: Path) -> None:
    data = _table(tmp_path, 1)
    assert REAL_ONLY in data.variants and data.row(REAL_ONLY)[0] == "reference"
    cell = data.cells[(REAL_ONLY, "downstream_auc", 50)]
    assert cell.values == (0.69,) and (cell.lo, cell.hi) == (0.67, 0.71)
    gain = data.comparisons[("tgdp", REAL_ONLY, "downstream_auc", 50)]
    assert gain.diff == pytest.approx(-0.03) and gain.better == 0 and gain.n == 1
    text = to_markdown(data)
    assert "Δ vs real-only, n=50" in text and "test-set resampling only" in text
    assert "vs_real_only_diff" in to_long_csv(data)


def test_real_only_gain_is_paired_by_trial(tmp_path: Path) -> None:
    data = _table(tmp_path, 3)
    gain = data.comparisons[("finetune", REAL_ONLY, "downstream_auc", 50)]
    assert gain.diff == pytest.approx(0.03) and gain.better == 3 and gain.lo == pytest.approx(0.03)
