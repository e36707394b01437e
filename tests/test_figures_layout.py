"""Readable figures: the 2-D sample grids wrap to at most six columns, the paper set shows the
methods the paper compares, metric-vs-n-target splits the methods by family, every figure that
draws methods styles them by source (paper / published / ours / references) with a legend grouped
under those headers, and the paired-differences figure draws the paired tables' intervals."""

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
    for ax in fig.axes:  # oracles are grey dash-dot reference lines beside every family's own lines
        if ax.get_visible() and ax.get_title().endswith(("\nmmd", "\ndensity_error")):  # metrics the oracle has
            handles, labels = ax.get_legend_handles_labels()  # errorbar containers: (data line, caps, bars)
            styles = {label: h.lines[0].get_linestyle() for h, label in zip(handles, labels)}
            assert styles.get("target-oracle") == "-.", (ax.get_title(), styles)
            if ax.get_title().startswith("baselines"):
                assert styles.get("finetune") == "--", styles  # a published baseline: dashed
            else:
                assert styles.get("tgdp") == "-", styles  # the paper's method: solid
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
    for legend in fig.legends:  # the shared legend: no more columns than fit the width
        labels = [t.get_text() for t in legend.get_texts()]
        assert legend._ncols <= legend_ncol(labels, w_in), (path.name, legend._ncols, labels)
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
        legend, = figs[key].legends  # one shared legend naming every variant of the setting (and the group headers)
        texts = [t.get_text() for t in legend.get_texts() if t.get_text() and t.get_fontweight() != "bold"]
        assert sorted(texts) == sorted(many_metrics.variants("gmm2d"))
    plt.close("all")


# -- method styles by source, grouped legends ------------------------------------------------------
def test_method_style_is_a_function_of_the_source_label() -> None:
    from benchmark.report.style import GROUP_LINESTYLES, legend_group, method_style, method_styles

    looks = {g: method_style(g) for g in ("paper", "published", "ours", "references")}
    assert len({st.linestyle for st in looks.values()}) == 4  # each group its own line style
    assert (looks["paper"].linestyle, looks["published"].linestyle, looks["ours"].linestyle) == ("-", "--", ":")
    r, g, b, _ = looks["references"].color
    assert abs(r - g) < 1e-6 and abs(g - b) < 1e-6  # references are grey
    assert len({st.color for st in looks.values()}) == 4
    assert legend_group("reference", "paper") == "references" and legend_group("unconditional", "paper+") == "paper"
    assert legend_group("label-conditional", "published") == "published" and legend_group("unconditional", "?") == "other"
    styles = method_styles({"tgdp": "paper", "tgdp-cond": "paper", "finetune": "published", "tgdp-lr": "ours"})
    assert styles["tgdp"].linestyle == styles["tgdp-cond"].linestyle == GROUP_LINESTYLES["paper"]
    assert styles["tgdp"].color != styles["tgdp-cond"].color  # two shades of one group
    assert styles["tgdp"].marker != styles["tgdp-cond"].marker
    assert styles["finetune"].linestyle != styles["tgdp"].linestyle != styles["tgdp-lr"].linestyle


@pytest.mark.parametrize("name", ["metric-vs-n-target", "guidance-cosine-by-t", "ranking", "paired-differences"])
def test_figures_that_draw_methods_group_the_legend_by_source(data: ReportData, name: str) -> None:
    import matplotlib.pyplot as plt

    from benchmark.report.figures.curves import method_family
    from benchmark.report.plotting import method_groups
    from benchmark.report.style import GROUP_TITLES, figure_style

    groups = method_groups(data.tidy[data.tidy.setting == "gmm2d"], data.regs.methods)
    assert {"paper", "published", "references"} <= set(groups.values()), groups
    assert groups["tgdp"] == "paper" and groups["finetune"] == "published" and groups["target-oracle"] == "references"
    with figure_style():
        figs = data.regs.figures.get(name)(data)
    fig = figs.get("gmm2d", figs.get(""))
    legend, = fig.legends
    headers = [t.get_text() for t in legend.get_texts() if t.get_fontweight() == "bold"]
    if name in ("ranking", "paired-differences"):  # one entry per group (the methods are the y labels)
        assert {GROUP_TITLES["paper"], GROUP_TITLES["published"]} <= set(headers), headers
    else:  # a header for the group of every method drawn, and each header heads its own members
        texts = [t.get_text() for t in legend.get_texts()]
        members = [label for label in texts if label and label not in headers]
        assert sorted(headers) == sorted({GROUP_TITLES[groups[label]] for label in members}), (headers, members)
        if name == "metric-vs-n-target":
            assert {GROUP_TITLES[g] for g in ("paper", "published", "references")} <= set(headers), headers
        ncol, rows = legend._ncols, len(texts) // legend._ncols
        columns = [texts[i * rows:(i + 1) * rows] for i in range(ncol)]
        for column in columns:
            current = None
            for label in filter(None, column):
                if label in headers:
                    current = label
                elif current is not None:
                    assert GROUP_TITLES[groups[label]] == current, (label, current, column)
    plt.close("all")
    assert method_family("tgdp") == "TGDP variants"


# -- paired differences: the table's numbers -------------------------------------------------------
def test_paired_differences_figure_draws_the_tables_intervals(tmp_path: Path) -> None:
    """Synthetic records with a known difference (tgdp-tclf 0.01 below finetune in every trial, lora
    equal up to noise): the plotted points and bar ends are the paired table's mean difference and
    95 % interval, the true difference filled (significant), the null one open."""
    import matplotlib.pyplot as plt
    import numpy as np

    from benchmark.report.reference import Reference, _materialise
    from benchmark.report.style import figure_style
    from benchmark.report.tables import table_data
    from benchmark.spec import RunSpec

    rng = np.random.default_rng(0)
    trial = rng.normal(0.03, 0.01, 8)
    noise = 0.001 * np.array([1, -1, 0.5, -0.5, 0.8, -0.8, 0.2, -0.2])
    per = {"source-only": trial + 0.05, "finetune": trial, "tgdp-tclf": trial - 0.01 + 0.3 * noise,
           "lora": trial + noise}
    records = []
    for n in (10, 100):
        for method, values in per.items():
            for t, v in enumerate(values):
                spec = RunSpec("synthetic", 0, "gmm2d", {"n_target": n}, method, {}, t)
                records.append({"run_id": spec.run_id, "spec": spec.to_dict(), "metrics": {"mmd": float(v)},
                                "timings": {"fit_s": 1.0, "sample_s": 0.5}})
    _materialise(Reference("synthetic", tuple(records)), tmp_path)
    regs = load_registries()
    runs = collect_runs(tmp_path, regs)
    tidy = tidy_frame_from(runs)
    table = table_data(runs, tidy, "gmm2d", ["mmd"], regs.methods)  # what tables/<slug>/mmd shows
    with figure_style():
        fig = regs.figures.get("paired-differences")(ReportData(tmp_path, runs, tidy, regs, "target-val"))["gmm2d"]
    assert "target-val rule" in fig._suptitle.get_text()
    checked = 0
    for ax in fig.axes:
        if not ax.get_visible() or not ax.get_title():
            continue
        title = ax.get_title()  # "Δ vs <row> (<name>), n = <n>"
        n = int(title.rsplit("= ", 1)[1])
        name = "baseline" if "(baseline)" in title else "source-only"
        assert any(abs(line.get_xdata()[0]) < 1e-12 and line.get_xdata()[0] == line.get_xdata()[-1]
                   for line in ax.get_lines()), "zero line"
        for container in ax.containers:
            c = table.comparisons[(container.get_label(), name, "mmd", n)]
            (point,), _, (bars,) = container.lines[0:1], container.lines[1], container.lines[2]
            assert point.get_xdata()[0] == pytest.approx(c.diff, abs=1e-15)
            (x0, _), (x1, _) = bars.get_segments()[0]
            assert (min(x0, x1), max(x0, x1)) == (pytest.approx(c.lo, abs=1e-15), pytest.approx(c.hi, abs=1e-15))
            filled = point.get_markerfacecolor() != "white" and tuple(point.get_markerfacecolor()) != (1, 1, 1, 1)
            assert filled == c.significant
            checked += 1
    assert checked == 2 * (3 + 2)  # two n; vs source-only: 3 rows, vs the baseline (finetune): 2 rows
    true = table.comparisons[("tgdp-tclf", "baseline", "mmd", 10)]
    null = table.comparisons[("lora", "baseline", "mmd", 10)]
    assert true.significant and true.hi < 0 and not null.significant and null.lo < 0 < null.hi
    assert true.diff == pytest.approx(-0.01, abs=0.001)
    plt.close("all")
