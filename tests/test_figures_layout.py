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
    pages = regs.figures.get("samples-2d")(data)
    pages = [pages[k] for k in sorted(pages) if k.startswith("gmm2d")]
    variants = data.variants("gmm2d")
    n_targets = data.done("gmm2d").n_target.nunique()
    titles = []
    for page in pages:
        rows, cols, page_titles = _grid(page)
        assert cols == MAX_COLS and rows == n_targets * -(-len(page_titles) // MAX_COLS)
        titles += page_titles
    assert len(variants) > MAX_COLS  # the fixture has more variants than one row holds
    assert len(pages) == 2 and sorted(titles) == sorted(variants)  # 9 variants x 2 n_target: two pages
    paper = regs.figures.get("samples-2d-paper")(data)["gmm2d"]
    _, cols, titles = _grid(paper)
    assert titles == [m for m in PAPER_METHODS if m in variants] and cols <= MAX_COLS
    assert "samples-2d-paper" in PAPER_FIGURES and "samples-2d" not in PAPER_FIGURES
    plt.close("all")


def test_metric_vs_n_target_has_one_column_per_family(data: ReportData) -> None:
    import matplotlib.pyplot as plt

    fig = data.regs.figures.get("metric-vs-n-target")(data)["gmm2d"]
    _, cols, titles = _grid(fig)
    assert cols == 4 and any(t.startswith("baselines:\n") for t in titles)  # two metrics a row
    assert any(t.startswith("TGDP variants:\n") for t in titles)
    for ax in fig.axes:  # oracles are dashed reference lines beside every family's own lines
        if ax.get_visible() and ax.get_title().endswith(("\nmmd", "\ndensity_error")):  # metrics the oracle has
            handles, labels = ax.get_legend_handles_labels()  # errorbar containers: (data line, caps, bars)
            styles = {label: h.lines[0].get_linestyle() for h, label in zip(handles, labels)}
            assert styles.get("target-oracle") == "--", (ax.get_title(), styles)
            assert any(s == "-" for s in styles.values())
    plt.close("all")


# -- the layout rules of benchmark.report.style, on every registered figure -----------------------
EXTRA_METRICS = ("c2st_accuracy", "energy_distance", "mmd_pvalue", "logq_gap", "grad_mse_t0.5", "classifier_ece",
                 "mmd_rbf", "feature_precision", "guidance_error", "sliced_mmd")


@pytest.fixture(scope="module")
def many_metrics(data: ReportData) -> ReportData:
    """The fixture records with ten more ranked metrics (copies of mmd under other names): a
    report of many metrics, as the quick suite's (mmd, sliced_wasserstein, two-sample tests, ...)."""
    import pandas as pd

    from benchmark.report import metric_info

    mmd = data.tidy[data.tidy.metric == "mmd"]
    extra = [mmd.assign(metric=m) for m in EXTRA_METRICS]
    assert all(metric_info.direction(m) is not None for m in EXTRA_METRICS)  # ranked: metric-vs-n-target draws them
    return ReportData(data.results, data.runs, pd.concat([data.tidy, *extra], ignore_index=True), data.regs)


def _check_layout(fig, path: Path) -> None:
    import matplotlib.image as mpimg

    from benchmark.report.plotting import legend_ncol
    from benchmark.report.style import MAX_ASPECT, MAX_HEIGHT_IN, MAX_WIDTH_IN, MIN_PANEL_IN, save_figure

    fig.canvas.draw()
    panels = [ax.get_position() for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    w_in, h_in = fig.get_size_inches()
    small = [(round(p.width * w_in, 2), round(p.height * h_in, 2)) for p in panels
             if p.width * w_in < 0.8 * MIN_PANEL_IN or p.height * h_in < 0.8 * MIN_PANEL_IN]
    assert not small, f"{path.name}: panels smaller than {MIN_PANEL_IN} in: {small}"
    for legend in fig.legends:  # the shared legend: as many columns as fit the width
        labels = [t.get_text() for t in legend.get_texts()]
        assert legend._ncols == legend_ncol(labels, w_in), (path.name, legend._ncols, labels)
    save_figure(fig, path.parent, path.stem)
    h, w = mpimg.imread(path.with_suffix(".png")).shape[:2]
    dpi = 150
    assert w <= MAX_WIDTH_IN * dpi + 1 and h <= MAX_HEIGHT_IN * dpi + 1, f"{path.name}: {w} x {h} px"
    assert max(w / h, h / w) <= MAX_ASPECT + 0.02, f"{path.name}: {w} x {h} px"


@pytest.mark.parametrize("which", ["fixture", "many-metrics"])
def test_every_figure_keeps_the_layout_rules(data: ReportData, many_metrics: ReportData, which: str,
                                              tmp_path: Path) -> None:
    from benchmark.report.data import FigureSkipped
    from benchmark.report.style import figure_style

    d = data if which == "fixture" else many_metrics
    drawn = 0
    for name in d.regs.figures.names():
        with figure_style():
            try:
                figs = d.regs.figures.get(name)(d)
            except FigureSkipped:
                continue
            for key, fig in sorted(figs.items()):
                _check_layout(fig, tmp_path / f"{name}__{key}")
                drawn += 1
    assert drawn >= 20


def test_many_metrics_split_metric_vs_n_target_into_pages(many_metrics: ReportData) -> None:
    import matplotlib.pyplot as plt

    figs = many_metrics.regs.figures.get("metric-vs-n-target")(many_metrics)
    pages = sorted(k for k in figs if k.startswith("gmm2d"))
    assert pages == ["gmm2d-page1", "gmm2d-page2", "gmm2d-page3"], pages
    for key in pages:
        legend, = figs[key].legends  # one shared legend naming every variant of the setting
        assert sorted(t.get_text() for t in legend.get_texts()) == sorted(many_metrics.variants("gmm2d"))
    plt.close("all")
