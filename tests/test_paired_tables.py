"""Paired statistics in the tables: records with a known difference give a marked comparison,
a null difference none; bold is the best and the rows not significantly worse; Holm's
step-down; rows grouped and labelled by source; one trial marks nothing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from benchmark.registry import load_registries
from benchmark.report.paired import holm, paired
from benchmark.report.reference import Reference, _materialise
from benchmark.report.runs import collect_runs, tidy_frame_from
from benchmark.report.tables import table_data, to_latex, to_long_csv, to_markdown
from benchmark.spec import RunSpec

TRIALS = 8


def _records(per_method: dict[str, list[float]], n_target: int = 10, floor: float | None = None) -> list[dict]:
    out = []
    for method, values in per_method.items():
        for trial, v in enumerate(values):
            spec = RunSpec("synthetic", 0, "gmm2d", {"n_target": n_target}, method, {}, trial)
            metrics = {"mmd": v, **({"mmd_floor": floor} if floor is not None else {})}
            out.append({"run_id": spec.run_id, "spec": spec.to_dict(), "metrics": metrics,
                        "timings": {"fit_s": 1.0 + trial, "sample_s": 0.5}})
    return out


def _table(tmp_path: Path, per_method: dict[str, list[float]], **kw):
    _materialise(Reference("synthetic", tuple(_records(per_method, **kw))), tmp_path)
    regs = load_registries()
    runs = collect_runs(tmp_path, regs)
    return table_data(runs, tidy_frame_from(runs), "gmm2d", ["mmd"], regs.methods)


@pytest.fixture
def known(tmp_path: Path):
    """finetune is the only default baseline; tgdp-tclf is 0.01 lower in every trial (a true
    difference), lora equals finetune up to symmetric noise (a null difference)."""
    rng = np.random.default_rng(0)
    trial_effect = rng.normal(0.03, 0.01, TRIALS)  # shared by every method in a trial
    noise = 0.001 * np.array([1, -1, 0.5, -0.5, 0.8, -0.8, 0.2, -0.2])
    return _table(tmp_path, {
        "source-only": list(trial_effect + 0.05),
        "finetune": list(trial_effect),
        "tgdp-tclf": list(trial_effect - 0.01 + 0.3 * noise),
        "lora": list(trial_effect + noise),
        "target-oracle": list(trial_effect - 0.025),
    }, floor=0.001)


def test_a_true_difference_is_marked_and_a_null_one_is_not(known) -> None:
    c = known.comparisons
    assert c[("tgdp-tclf", "baseline", "mmd", 10)].significant
    assert c[("tgdp-tclf", "baseline", "mmd", 10)].better == TRIALS
    assert not c[("lora", "baseline", "mmd", 10)].significant
    assert c[("lora", "baseline", "mmd", 10)].better == 4 and abs(c[("lora", "baseline", "mmd", 10)].diff) < 1e-12
    assert c[("finetune", "source-only", "mmd", 10)].significant  # 0.05 lower in every trial
    md = to_markdown(known)
    row = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    assert f"{TRIALS}/{TRIALS}*" in row["tgdp-tclf"] and "*" not in row["lora"].split("|")[-4]
    assert "Δ vs finetune, n=10" in md and "Holm" in md and "scipy.stats.ttest_rel" in md


def test_bold_is_the_best_and_rows_not_significantly_worse(known) -> None:
    bold = known.bold()
    assert ("tgdp-tclf", "mmd", 10) in bold  # the best mean
    assert ("finetune", "mmd", 10) not in bold and ("lora", "mmd", 10) not in bold  # significantly worse
    assert not any(v in ("source-only", "target-oracle", "floor") for v, _, _ in bold)  # references are not ranked
    md = to_markdown(known)
    assert md.count("**") == 2 and "<ins>" not in md
    assert "\\textbf{" in to_latex(known, "tab:x") and "\\underline" not in to_latex(known, "tab:x")


def test_rows_are_grouped_and_labelled_by_source(known) -> None:
    assert known.variants == ["source-only", "target-oracle", "floor", "finetune", "lora", "tgdp-tclf"]
    assert known.row("source-only") == ("reference", "published")
    assert known.row("tgdp-tclf") == ("unconditional", "ours") and known.row("lora")[1] == "published"
    assert known.cells[("floor", "mmd", 10)].mean == pytest.approx(0.001)
    assert known.cost["finetune"][0] == pytest.approx(5.0)  # median of fit_s + sample_s = 1.5 .. 8.5
    assert math.isnan(known.cost["finetune"][1])  # finetune records no trainable_params
    md = to_markdown(known, cost=True)
    assert "s/run" in md and "params" in md and "s/run" not in to_markdown(known)
    csv = to_long_csv(known)
    assert "vs_baseline_p_holm" in csv and "seconds_per_run" in csv


def test_label_conditional_rows_are_marked(tmp_path: Path) -> None:
    data = _table(tmp_path, {"finetune": [0.1, 0.2], "finetune-cond": [0.05, 0.1], "tgdp": [0.1, 0.1]})
    assert data.row("finetune-cond") == ("label-conditional", "ours")
    assert data.row("tgdp")[1] == "paper"
    assert data.variants[-1] == "finetune-cond"  # label-conditional rows come last


def test_one_trial_marks_nothing_and_says_so(tmp_path: Path) -> None:
    data = _table(tmp_path, {"source-only": [0.08], "finetune": [0.02], "tgdp-tclf": [0.001]})
    assert not data.bold() and not any(c.significant for c in data.comparisons.values())
    md = to_markdown(data)
    assert "**" not in md and "One trial per cell" in md and "1/1" in md


def test_paired_t_matches_scipy_and_holm_steps_down() -> None:
    a, b = [0.10, 0.12, 0.11, 0.15], [0.12, 0.13, 0.13, 0.16]
    c = paired(a, b, "min")
    d = np.subtract(a, b)
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / math.sqrt(4)
    assert c.diff == pytest.approx(d.mean()) and c.lo == pytest.approx(d.mean() - half)
    assert c.hi == pytest.approx(d.mean() + half) and c.better == 4 and c.n == 4
    assert c.p == pytest.approx(stats.ttest_rel(a, b).pvalue) and c.p_wilcoxon is None
    assert paired(list(range(6)), [x + 1 for x in range(6)], "max").p_wilcoxon == pytest.approx(1 / 32)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(holm([math.nan, 0.01])[0]) and holm([math.nan, 0.01])[1] == pytest.approx(0.01)
