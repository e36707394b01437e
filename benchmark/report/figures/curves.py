"""Metric curves: against n_target, against a regulariser weight, against a task parameter.

Points are means over trials (seeds); error bars are the sample std over trials, or, where
every point has one trial and the metric records a bootstrap interval (``_lo``/``_hi``),
that interval.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import pandas as pd

from benchmark.registry import register_figure
from benchmark.report.data import FigureSkipped, ReportData
from benchmark.report.metric_info import direction, is_headline
from benchmark.report.plotting import cell_stats, errorbar_lines, hide_unused, legend_below, styles_for, suptitle
from benchmark.report.runs import slugify

NCOLS = 3  # panels a row of metric_panels (at most style.MAX_COLS; three 2.2-inch panels fit the width)
ABLATION_METHODS = ("tgdp", "tgdp-cycle", "tgdp-consistency", "tgdp-reg")
ABLATION_KEYS = ("eta_cycle", "eta_consistency")


def ordered_metrics(metrics: Sequence[str]) -> list[str]:
    """Headline metrics first, then ranked ones, then the rest; alphabetical within each."""
    uniq = sorted(set(metrics))
    return sorted(uniq, key=lambda m: (not is_headline(m), direction(m) is None, m))


def _ylabel(metric: str) -> str:
    word = {"min": "lower is better", "max": "higher is better"}.get(direction(metric) or "", "")
    return f"{metric} ({word})" if word else metric


def _scale_y(ax: Any, means: pd.Series) -> None:
    vals = means[np.isfinite(means)]
    if len(vals) and (vals > 0).all() and vals.max() / vals.min() > 100:
        ax.set_yscale("log")


def _use_interval(stats: pd.DataFrame) -> bool:
    return bool(len(stats)) and int(stats["count"].max()) == 1 and stats.lo.notna().all() and stats.hi.notna().all()


def metric_panels(tidy: pd.DataFrame, metrics: Sequence[str], x: str, group: str,
                  order: Sequence[str], title: str, xlabel: str, log_x: bool, methods: Any = None) -> Any:
    """One panel per metric: mean ± error of each ``group`` value (a table variant) against ``x``;
    each variant styled by its source (:func:`benchmark.report.style.method_style`), the legend
    grouped under paper / published baselines / ours / references."""
    from benchmark.report.style import grid_shape, new_figure

    rows, cols = grid_shape(len(metrics), NCOLS)
    fig, axes = new_figure(rows, cols, panel=2.2)
    flat = [ax for row in axes for ax in row]
    styles = styles_for(tidy.rename(columns={group: "variant"}) if group != "variant" else tidy, order, methods)
    for ax, metric in zip(flat, metrics):
        stats = cell_stats(tidy, metric, [group, x])
        errorbar_lines(ax, stats, x, group, {}, order, use_interval=_use_interval(stats), styles=styles)
        xs = sorted(stats[x].unique())
        if log_x and len(xs) > 1 and min(xs) > 0:
            ax.set_xscale("log")
            ax.set_xticks(xs, [f"{v:g}" for v in xs])
            ax.minorticks_off()
        _scale_y(ax, stats["mean"])
        ax.set_title(_ylabel(metric))
        ax.set_xlabel(xlabel)
    hide_unused(flat, len(metrics))
    legend_below(fig, flat, groups={v: st.group for v, st in styles.items()})
    suptitle(fig, title)
    return fig


#: the method families of ``metric-vs-n-target`` (its columns; the oracles are reference lines in each)
FAMILIES = ("baselines", "TGDP variants", "oracles")


def method_family(method: str) -> str:
    """``oracles`` (reference methods: ``*oracle*``), ``TGDP variants`` (``tgdp*``) or ``baselines``."""
    from benchmark.report.metric_info import is_reference_method

    if is_reference_method(method):
        return "oracles"
    return "TGDP variants" if method.startswith("tgdp") else "baselines"


def family_layout(tidy: pd.DataFrame, order: Sequence[str]) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """(the family columns, the variants of each family, the oracles drawn as reference lines)."""
    family_of = tidy.drop_duplicates("variant").set_index("variant").method.map(method_family).to_dict()
    members = {f: [v for v in order if family_of.get(v) == f] for f in FAMILIES}
    columns = [f for f in FAMILIES[:2] if members[f]] or ["oracles"]
    oracles = members["oracles"] if columns != ["oracles"] else []
    return columns, members, oracles


FAMILY_PANEL = 2.4


def family_metrics_per_page(n_columns: int) -> tuple[int, int]:
    """(metrics a grid row holds, metrics a page holds) of :func:`family_panels` with
    ``n_columns`` family columns: the row holds :data:`~benchmark.report.style.MAX_COLS` panels."""
    from benchmark.report.style import MAX_COLS, rows_per_page

    per_row = max(1, MAX_COLS // n_columns)
    return per_row, per_row * rows_per_page(per_row * n_columns, FAMILY_PANEL)


def family_panels(tidy: pd.DataFrame, metrics: Sequence[str], order: Sequence[str], title: str,
                  methods: Any = None) -> Any:
    """For each metric, one panel per method family that has runs (oracles drawn as dashed grey
    reference lines in every panel, or in their own panel when nothing else ran), side by side
    on one y axis; the metrics wrap so a grid row holds at most
    :data:`~benchmark.report.style.MAX_COLS` panels.  Every variant is styled by its source
    (:func:`benchmark.report.style.method_style`: paper solid, published dashed, ours dotted,
    references grey dash-dot), so one legend under the grid, grouped by source, names them all."""
    from benchmark.report.style import new_figure

    columns, members, oracles = family_layout(tidy, order)
    per_row, _ = family_metrics_per_page(len(columns))
    per_row = min(per_row, len(metrics))
    rows = -(-len(metrics) // per_row)
    fig, axes = new_figure(rows, per_row * len(columns), panel=FAMILY_PANEL)
    styles = styles_for(tidy, [v for f in columns for v in members[f]] + oracles, methods)
    flat = [ax for row in axes for ax in row]
    for i, metric in enumerate(metrics):
        stats = cell_stats(tidy, metric, ["variant", "n_target"])
        interval = _use_interval(stats)
        r, slot = divmod(i, per_row)
        panels = axes[r][slot * len(columns):(slot + 1) * len(columns)]
        drawn = [stats.variant.isin(members[fam]).any() for fam in columns]  # e.g. no TGDP classifier metric
        lead = None
        for ax, fam, has in zip(panels, columns, drawn):
            if not has:
                ax.set_visible(False)
                continue
            if lead is None:  # the metric's first drawn panel carries the y label and ticks
                lead = ax
                ax.set_ylabel(_ylabel(metric).replace(" (", "\n("))
            else:
                ax.sharey(lead)
                ax.tick_params(labelleft=False)
            errorbar_lines(ax, stats, "n_target", "variant", {}, [*members[fam], *oracles], use_interval=interval,
                           styles=styles)
            xs = sorted(stats.n_target.unique())
            if len(xs) > 1 and min(xs) > 0:
                ax.set_xscale("log")
                ax.set_xticks(xs, [f"{x:g}" for x in xs])
                ax.minorticks_off()
            _scale_y(ax, stats["mean"])
            ax.set_title(f"{fam}:\n{metric}", fontsize="small")
            ax.set_xlabel("n_target")
    for k in range(len(metrics) * len(columns), len(flat)):  # the empty end of the last row
        flat[k].set_visible(False)
    legend_below(fig, flat, groups={v: st.group for v, st in styles.items()})
    suptitle(fig, title)
    return fig


@register_figure("metric-vs-n-target", "each ranked metric against n_target, mean ± std over seeds; one column "
                 "per method family (baselines, TGDP variants), the oracles as dashed reference lines")
def metric_vs_n_target(data: ReportData) -> dict[str, Any]:
    out = {}
    for setting in data.settings():
        tidy = data.tidy[data.tidy.setting == setting]
        if tidy.empty:
            continue
        metrics = ordered_metrics(tidy.metric.unique())
        metrics = [m for m in metrics if direction(m) is not None] or metrics  # not reference values
        seeds = int(tidy.groupby(["variant", "n_target", "metric"]).trial.nunique().max())
        from benchmark.report.style import page_keys, paged

        order = data.variants(setting)
        _, per_page = family_metrics_per_page(len(family_layout(tidy, order)[0]))
        pages = paged(metrics, per_page)  # more metrics than a page holds: one file per page
        for k, (key, page) in enumerate(zip(page_keys(data.done(setting).slug.iloc[0], len(pages)), pages)):
            part = f", page {k + 1} of {len(pages)}" if len(pages) > 1 else ""
            out[key] = family_panels(
                tidy, page, order,
                f"{setting}: metrics against n_target (error bars: std over up to {seeds} seeds{part})",
                data.regs.methods if data.regs is not None else None)
    if not out:
        raise FigureSkipped("no done record holds metrics")
    return out


def _ablation_frame(data: ReportData, key: str) -> pd.DataFrame:
    """Tidy rows of the ablation methods whose other regulariser weight is 0, with ``eta``."""
    tidy = data.tidy[data.tidy.method.isin(ABLATION_METHODS)]
    if tidy.empty:
        return tidy.assign(eta=[])
    hp = tidy.hparams.map(json.loads)
    other = [k for k in ABLATION_KEYS if k != key]
    keep = hp.map(lambda h: key in h and all(float(h.get(o, 0.0)) == 0.0 for o in other))
    sub = tidy[keep].copy()
    sub["eta"] = hp[keep].map(lambda h: float(h[key]))
    return sub


@register_figure("regularisation-ablation", "metrics against the regulariser weights eta_cycle and eta_consistency")
def regularisation_ablation(data: ReportData) -> dict[str, Any]:
    from benchmark.report.style import colours, new_figure

    out = {}
    for setting in data.settings():
        frames = {k: _ablation_frame(data, k) for k in ABLATION_KEYS}
        frames = {k: f[f.setting == setting] for k, f in frames.items()}
        frames = {k: f for k, f in frames.items() if f.eta.nunique() >= 2}
        if not frames:
            continue
        present = set().union(*(set(f.metric) for f in frames.values()))
        metrics = [m for m in ordered_metrics(present) if is_headline(m)] or ordered_metrics(present)[:NCOLS]
        fig, axes = new_figure(len(frames), len(metrics), panel=2.2)
        for i, (key, frame) in enumerate(sorted(frames.items())):
            etas = sorted(frame.eta.unique())
            pos = {e: k for k, e in enumerate(etas)}  # categorical x: eta may be 0
            frame = frame.assign(x=frame.eta.map(pos))
            ns = sorted(frame.n_target.unique())
            palette = colours([f"n_target = {n}" for n in ns])
            frame = frame.assign(series=frame.n_target.map(lambda n: f"n_target = {n}"))
            for j, metric in enumerate(metrics):
                ax = axes[i][j]
                stats = cell_stats(frame, metric, ["series", "x"])
                errorbar_lines(ax, stats, "x", "series", palette, list(palette))
                ax.set_xticks(range(len(etas)), [f"{e:g}" for e in etas])
                ax.set_xlabel(key)
                ax.set_ylabel(_ylabel(metric))
        legend_below(fig, [ax for row in axes for ax in row])
        suptitle(fig, f"{setting}: regularisation ablation ({', '.join(ABLATION_METHODS)}; the other weight 0)")
        out[data.done(setting).slug.iloc[0]] = fig
    if not out:
        raise FigureSkipped("no setting has TGDP runs with two or more values of eta_cycle or eta_consistency")
    return out


def _sweep(data: ReportData, task: str, param: str, label: str) -> dict[str, Any]:
    """Headline metrics against the task parameter ``param``: panels metric x n_target,
    one line per method; one figure per group of settings that differ only in ``param``."""
    from benchmark.report.style import new_figure

    runs = data.done()
    runs = runs[runs.task == task]
    if runs.empty:
        raise FigureSkipped(f"no done run of {task}")
    value = runs.spec_params.map(lambda p: p.get(param))
    rest = runs.params.map(lambda p: json.dumps({k: v for k, v in p.items() if k != param}, sort_keys=True))
    out = {}
    for group_key in sorted(rest.unique()):
        ids = runs.run_id[rest == group_key]
        tidy = data.tidy[data.tidy.run_id.isin(ids)].copy()
        tidy["x"] = tidy.run_id.map(dict(zip(runs.run_id, value)))
        if tidy.x.nunique() < 2:
            continue
        metrics = [m for m in ordered_metrics(tidy.metric.unique()) if is_headline(m)] or ordered_metrics(tidy.metric)[:1]
        ns = sorted(tidy.n_target.unique())
        order = sorted(tidy.variant.unique())
        styles = styles_for(tidy, order, data.regs.methods if data.regs is not None else None)
        fig, axes = new_figure(len(metrics), len(ns), panel=2.2)
        for i, metric in enumerate(metrics):
            for j, n in enumerate(ns):
                ax = axes[i][j]
                stats = cell_stats(tidy[tidy.n_target == n], metric, ["variant", "x"])
                errorbar_lines(ax, stats, "x", "variant", {}, order, styles=styles)
                ax.set_xlabel(label)
                ax.set_ylabel(_ylabel(metric))
                _scale_y(ax, stats["mean"])
                if i == 0:
                    ax.set_title(f"n_target = {n}")
        legend_below(fig, [ax for row in axes for ax in row], groups={v: st.group for v, st in styles.items()})
        suptitle(fig, f"{task}: headline metrics against {label} (error bars: std over seeds)")
        extra = json.loads(group_key)
        out[slugify(task, extra)] = fig
    if not out:
        raise FigureSkipped(f"the done runs of {task} use fewer than two values of {param}")
    return out


@register_figure("highdim-curves", "gmm-highdim: headline metrics against the dimension d, one line per method")
def highdim_curves(data: ReportData) -> dict[str, Any]:
    return _sweep(data, "gmm-highdim", "dim", "dimension d")


@register_figure("noisy-source-curves", "gmm-noisy-source: headline metrics against the source noise fraction")
def noisy_source_curves(data: ReportData) -> dict[str, Any]:
    return _sweep(data, "gmm-noisy-source", "noise_frac", "source noise fraction")
