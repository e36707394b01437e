"""Readable figures: the 2-D sample grids wrap to at most six columns, the paper set shows the
methods the paper compares, and metric-vs-n-target splits the methods by family."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.registry import load_registries
from benchmark.report.build import tidy_frame_from
from benchmark.report.data import ReportData
from benchmark.report.figures import PAPER_FIGURES
from benchmark.report.figures.curves import method_family
from benchmark.report.figures.samples import MAX_COLS, PAPER_METHODS
from benchmark.report.runs import collect_runs

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "report_records"
PLUGINS = REPO_ROOT / "tests" / "fixtures" / "report_plugins"


@pytest.fixture(scope="module")
def data() -> ReportData:
    regs = load_registries([PLUGINS])
    runs = collect_runs(FIXTURES, regs)
    return ReportData(FIXTURES, runs, tidy_frame_from(runs), regs)


def _grid(fig) -> tuple[int, int, list[str]]:
    """(rows, columns, titles of the visible top-row-of-a-block panels) of a figure's axes grid."""
    axes = [ax for ax in fig.axes if ax.get_visible()]
    spec = fig.axes[0].get_subplotspec().get_gridspec()
    return spec.nrows, spec.ncols, [ax.get_title() for ax in axes if ax.get_title()]


def test_method_families() -> None:
    assert [method_family(m) for m in ("finetune", "lora", "scratch", "importance-weighted", "domain-guidance")] == \
        ["baselines"] * 5
    assert {method_family(m) for m in ("tgdp", "tgdp-cond", "tgdp-reg", "tgdp-lr")} == {"TGDP variants"}
    assert {method_family(m) for m in ("target-oracle", "tgdp-oracle-ratio", "tgdp-oracle-guidance")} == {"oracles"}


def test_samples_grid_wraps_and_the_paper_figure_keeps_the_papers_methods(data: ReportData) -> None:
    import matplotlib.pyplot as plt

    regs = data.regs
    full = regs.figures.get("samples-2d")(data)["gmm2d"]
    rows, cols, titles = _grid(full)
    variants = data.variants("gmm2d")
    assert len(variants) > MAX_COLS and cols == MAX_COLS  # the fixture has more variants than one row holds
    n_targets = data.done("gmm2d").n_target.nunique()
    assert rows == n_targets * -(-len(variants) // MAX_COLS) and sorted(titles) == sorted(variants)
    paper = regs.figures.get("samples-2d-paper")(data)["gmm2d"]
    _, cols, titles = _grid(paper)
    assert titles == [m for m in PAPER_METHODS if m in variants] and cols <= MAX_COLS
    assert "samples-2d-paper" in PAPER_FIGURES and "samples-2d" not in PAPER_FIGURES
    plt.close("all")


def test_metric_vs_n_target_has_one_column_per_family(data: ReportData) -> None:
    import matplotlib.pyplot as plt

    fig = data.regs.figures.get("metric-vs-n-target")(data)["gmm2d"]
    _, cols, titles = _grid(fig)
    assert cols == 2 and any(t.startswith("baselines: ") for t in titles)
    assert any(t.startswith("TGDP variants: ") for t in titles)
    for ax in fig.axes:  # oracles are dashed reference lines beside every family's own lines
        if ax.get_visible() and ax.get_title().endswith((": mmd", ": density_error")):  # metrics the oracle has
            handles, labels = ax.get_legend_handles_labels()  # errorbar containers: (data line, caps, bars)
            styles = {label: h.lines[0].get_linestyle() for h, label in zip(handles, labels)}
            assert styles.get("target-oracle") == "--", (ax.get_title(), styles)
            assert any(s == "-" for s in styles.values())
    plt.close("all")
