"""The report's parts: metric directions, cell formatting and ranks, holes, plans, stable
figures, and tables and figures from real smoke records."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmark.registry import load_registries
from benchmark.planner import plan
from benchmark.report.build import render_figures, write_tables
from benchmark.report.data import ReportData
from benchmark.report.metric_info import direction, fold_metrics, is_reference_method
from benchmark.report.runs import collect_runs, tidy_frame_from
from benchmark.report.tables import Cell, TableData, displayed, format_mean_std, table_data, to_latex, to_markdown
from benchmark.spec import RunSpec
from conftest import one_error_line

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "report_records"
PLUGINS = REPO_ROOT / "tests" / "fixtures" / "report_plugins"


@pytest.fixture(scope="module")
def regs():
    return load_registries([PLUGINS])


def test_metric_directions_follow_the_declared_table() -> None:
    lower = ["mmd", "mmd_median", "feature_mmd", "feature_fd", "psd_distance", "density_error", "logq_gap",
             "sliced_wasserstein", "ratio_error", "guidance_error", "classifier_ece"]
    higher = ["classifier_accuracy", "downstream_auc", "macro_auc", "downstream_f1", "precision", "recall",
              "density", "coverage"]
    assert all(direction(m) == "min" for m in lower)
    assert all(direction(m) == "max" for m in higher)
    assert direction("mmd_floor") is None and direction("trainable_params") is None
    assert direction("feature_fd_floor") is None and direction("psd_distance_floor") is None
    assert is_reference_method("target-oracle") and is_reference_method("tgdp-oracle-ratio")
    assert not is_reference_method("tgdp")


def test_bootstrap_bounds_fold_into_their_metric() -> None:
    folded = fold_metrics({"downstream_auc": 0.8, "downstream_auc_lo": 0.7, "downstream_auc_hi": 0.85,
                           "mmd": 0.1, "threshold_lo": 1.0})
    assert folded == {"downstream_auc": {"value": 0.8, "lo": 0.7, "hi": 0.85}, "mmd": {"value": 0.1},
                      "threshold_lo": {"value": 1.0}}


def test_mean_std_formatting() -> None:
    assert format_mean_std(0.5567, 0.0031, latex=False) == "0.557 ± 0.003"
    assert format_mean_std(85.63, 13.2, latex=False) == "85.6 ± 13.2"
    assert format_mean_std(4.123e-5, 3.1e-6, latex=False) == "(4.12 ± 0.31)e-5"
    assert format_mean_std(4.123e-5, 3.1e-6, latex=True) == "(4.12 $\\pm$ 0.31)$\\cdot$10$^{-5}$"
    assert format_mean_std(0.25, math.nan, latex=False) == "0.250"
    assert displayed(0.55549) == displayed(0.55451) == 0.555


def _table(values: dict[str, list[float]], metric: str = "mmd") -> TableData:
    data = TableData("toy", "toy", [metric], list(values), [10])
    data.cells = {(v, metric, 10): Cell(tuple(x), 2) for v, x in values.items()}
    return data


def test_best_and_rows_not_significantly_worse_are_bold_and_oracles_are_not_ranked() -> None:
    data = _table({"a": [0.30, 0.31], "b": [0.1002, 0.1001], "c": [0.1001, 0.1002], "d": [0.2, 0.2],
                   "target-oracle": [0.01, 0.01]})
    ranks = data.ranks()  # the CSV's rank column: dense ranks of the displayed means
    assert ranks[("b", "mmd", 10)] == ranks[("c", "mmd", 10)] == 1
    assert ranks[("d", "mmd", 10)] == 2 and ranks[("a", "mmd", 10)] == 3
    assert ("target-oracle", "mmd", 10) not in ranks
    # b and c tie (paired differences of both signs); d and a are worse in both trials, after Holm
    assert data.bold() == {("b", "mmd", 10), ("c", "mmd", 10)}
    tex = to_latex(data, "tab:toy")
    assert "\\textbf{0.100 $\\pm$ 0.000}" in tex and "\\underline" not in tex
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "over 2 seeds" in tex and "lower is better" in tex
    md = to_markdown(data)
    assert "**0.100 ± 0.000**" in md and "**0.200" not in md and "<ins>" not in md
    higher = _table({"a": [0.3, 0.3], "b": [0.9, 0.9]}, metric="downstream_auc")
    assert higher.ranks()[("b", "downstream_auc", 10)] == 1 and ("b", "downstream_auc", 10) in higher.bold()


def test_holes_give_dashes_with_notes_and_a_complete_missing_list(regs) -> None:
    runs = collect_runs(FIXTURES, regs)
    tidy = tidy_frame_from(runs)
    missing = {(r.variant, r.n_target, r.trial, r.status) for r in runs.missing().itertuples()}
    assert missing == {("finetune", 100, 0, "not run"), ("finetune", 100, 1, "not run"),
                       ("lora", 100, 1, "failed"), ("source-only", 10, 1, "stale"),
                       ("target-oracle", 100, 1, "corrupt")}
    data = table_data(runs, tidy, "gmm2d", ["mmd"])
    empty = data.cells[("finetune", "mmd", 100)]
    assert empty.count == 0 and empty.note.startswith("not run")
    partial = data.cells[("lora", "mmd", 100)]
    assert partial.count == 1 and partial.note.startswith("1 of 2 seeds; failed: RuntimeError")
    md = to_markdown(data)
    row = next(line for line in md.splitlines() if line.startswith("| finetune"))
    assert "–<sup>" in row
    tex = to_latex(data, "tab:x")
    assert "--\\textsuperscript{" in tex and "not run" in tex and "seeds (the notes name cells with fewer)" in tex
    # a metric only TGDP methods report keeps only their rows
    assert set(table_data(runs, tidy, "gmm2d", ["ratio_error"]).variants) == {
        "tgdp", "tgdp-cond", "tgdp-consistency", "tgdp-cycle[eta_cycle=0.1]", "tgdp-cycle[eta_cycle=1]"}


def test_a_plan_restricts_the_report_and_names_not_run_and_stale_runs(regs) -> None:
    on_disk = collect_runs(FIXTURES, regs)
    done = on_disk.done()
    tgdp = done[(done.method == "tgdp") & (done.setting == "gmm2d")].iloc[0]
    record = on_disk.records[tgdp.run_id]
    spec = RunSpec.from_dict(record["spec"])
    changed = RunSpec.from_dict({**record["spec"], "hparams": {**record["spec"]["hparams"], "steps": 6}})
    never = RunSpec("fixture", 0, "gmm2d", {"n_target": 1000}, "tgdp", dict(spec.hparams), 0)
    runs = collect_runs(FIXTURES, regs, planned=[spec, changed, never])
    status = dict(zip(runs.frame.run_id, runs.frame.status))
    assert status == {spec.run_id: "done", changed.run_id: "stale", never.run_id: "not run"}
    assert list(runs.records) == [spec.run_id]
    assert set(runs.missing().status) == {"stale", "not run"}


def test_figures_are_byte_stable(regs, tmp_path: Path) -> None:
    runs = collect_runs(FIXTURES, regs)
    data = ReportData(FIXTURES, runs, tidy_frame_from(runs), regs)
    render_figures(data, regs, tmp_path / "a", ["density-ratio"])
    render_figures(data, regs, tmp_path / "b", ["density-ratio"])
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["density-ratio__gmm2d.pdf", "density-ratio__gmm2d.png"]
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)


@pytest.mark.slow
def test_report_parts_on_real_smoke_records(smoke_results: Path, tmp_path: Path) -> None:
    """Real record and array formats (TGDP outputs.npz, conditional labels, ECG samples)."""
    regs = load_registries()
    runs = collect_runs(smoke_results, regs, planned=plan(regs.suites.get("smoke")(), regs))
    assert runs.missing().empty and len(runs.records) == len(list((smoke_results / "runs").glob("*/record.json")))
    tidy = tidy_frame_from(runs)
    assert {"run_id", "suite", "task", "method", "n_target", "trial", "metric", "value"} <= set(tidy.columns)
    tables = write_tables(runs, tidy, tmp_path / "tables")
    assert sorted(tables) == sorted(runs.frame.setting.unique())
    assert all(stems[0].endswith("/main") for stems in tables.values())
    names = ["density-ratio", "conditional-samples"]
    if any(t.startswith("ecg") for t in runs.frame.task):
        names += ["ecg-leads", "ecg-downstream-auc"]
    written, skipped = render_figures(ReportData(smoke_results, runs, tidy, regs), regs, tmp_path / "fig", names)
    assert skipped == {} and sorted(written) == sorted(names)


def test_report_without_runs_is_one_error_line(tmp_path: Path, cli_main) -> None:
    code, _, err = cli_main("report", "--results", tmp_path / "empty", "--out", tmp_path / "rep")
    assert code == 2
    one_error_line(err)
