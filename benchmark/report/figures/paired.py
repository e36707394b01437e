"""Paired differences to the reference rows, the numbers of the paired tables as a figure.

Per setting, for its primary metric (the first of
:func:`benchmark.report.agreement.agreement_metrics`, as the ranking uses: MMD² on gmm2d,
downstream AUC on ecg-synth): one panel per (named reference row, n_target), one row per
competitor.  A point is the mean paired difference row − reference over the trials both have,
the bar its 95 % paired-t interval, and the marker is filled where the difference is
significant after Holm's correction over the table's comparisons, open where not; the zero line
is drawn.  The numbers are :attr:`benchmark.report.tables.TableData.comparisons` of the table
:func:`benchmark.report.ranking.primary_tables` builds from the figure's runs, i.e. the Δ columns
of ``tables/<slug>/<metric>`` (``tables/<rule>/<slug>/<metric>`` for the figures of a selection
rule, written to ``figures/<rule>/``).  With one trial a point has no bar (no interval).
Colours, markers and line styles say each row's source
(:func:`benchmark.report.style.method_style`).
"""

from __future__ import annotations

import math
from typing import Any

from benchmark.registry import register_figure
from benchmark.report.data import FigureSkipped, ReportData

#: interval bars end in caps of this size (points)
CAPSIZE = 2.5


def _panels(table: Any) -> list[tuple[str, int]]:
    """(reference name, n_target) of every panel: the references in the tables' column order."""
    from benchmark.report.tables import REFERENCE_NAMES

    metric = table.metrics[0]
    have = {(name, n) for (_, name, m, n) in table.comparisons if m == metric}
    return [(name, n) for name in REFERENCE_NAMES for n in table.n_targets if (name, n) in have]


def paired_panel(ax: Any, table: Any, name: str, n: int, styles: dict) -> list[str]:
    """Draw the comparisons of ``table``'s primary metric against reference ``name`` at ``n``, one
    row per competitor of the table (the same rows in every panel, so panels side by side share
    their y labels; a row with no comparison, e.g. the reference itself, stays empty); returns the
    rows drawn."""
    metric = table.metrics[0]
    rows = table.competitors()
    drawn = []
    for y, v in enumerate(rows):
        c = table.comparisons.get((v, name, metric, n))
        if c is None:
            continue
        drawn.append(v)
        st = styles[v]
        xerr = [[c.diff - c.lo], [c.hi - c.diff]] if math.isfinite(c.lo) else None
        ax.errorbar([c.diff], [y], xerr=xerr, color=st.color, marker=st.marker, linestyle="none", capsize=CAPSIZE,
                    markerfacecolor=st.color if c.significant else "white", label=v)
        if xerr is not None:
            ax.plot([c.lo, c.hi], [y, y], color=st.color, linestyle=st.linestyle, lw=0.8, alpha=0.5)
    ax.axvline(0.0, color="0.2", lw=0.8)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ref = table.references(metric, n).get(name, name)
    ax.set_title(f"Δ vs {ref}" + (f" ({name})" if ref != name else "") + f", n = {n}", fontsize="small")
    return drawn


@register_figure("paired-differences", "per setting and n_target, each method's paired difference to the reference "
                 "rows of the paired tables (mean and 95 % paired-t interval over trials, filled: significant after "
                 "Holm), the zero line marked")
def paired_differences(data: ReportData) -> dict[str, Any]:
    from matplotlib.lines import Line2D

    from benchmark.report.metric_info import direction
    from benchmark.report.plotting import legend_ncol, suptitle
    from benchmark.report.ranking import primary_tables
    from benchmark.report.style import (GROUP_TITLES, LEGEND_ROW_IN, MAX_COLS, SOURCE_GROUPS, fit_size, legend_group,
                                        method_style, method_styles, new_figure, page_keys, paged, rows_per_page)

    methods = data.regs.methods if data.regs is not None else None
    out = {}
    for table in primary_tables(data.runs, data.tidy, methods):
        panels = _panels(table)
        if not panels:
            continue
        metric = table.metrics[0]
        groups = {v: legend_group(*table.row(v)) for v in table.competitors()}
        styles = method_styles(groups)
        cols = min(len(table.n_targets), MAX_COLS)
        panel = max(2.0, min(3.0, 0.5 + 0.14 * len(table.competitors())))
        pages = paged(panels, cols * rows_per_page(cols, panel))
        better = "< 0: row better" if direction(metric) == "min" else "> 0: row better"
        trials = max(c.n for c in table.comparisons.values())
        for k, (key, page) in enumerate(zip(page_keys(table.slug, len(pages)), pages)):
            rows = -(-len(page) // cols)
            fig, axes = new_figure(rows, cols, panel=panel)
            flat = [ax for row in axes for ax in row]
            for i, (ax, (name, n)) in enumerate(zip(flat, page)):
                paired_panel(ax, table, name, n, styles)
                if i % cols:
                    ax.tick_params(labelleft=False)
                ax.set_xlabel(f"Δ {metric} ({better})")
            for ax in flat[len(page):]:
                ax.set_visible(False)
            present = [g for g in SOURCE_GROUPS if g in set(groups.values())]
            handles = [Line2D([], [], label=GROUP_TITLES[g], **method_style(g).kwargs()) for g in present]
            handles += [Line2D([], [], marker="o", color="0.3", ls="none", label="significant (Holm)"),
                        Line2D([], [], marker="o", color="0.3", markerfacecolor="white", ls="none",
                               label="not significant")]
            ncol = legend_ncol([h.get_label() for h in handles], fig.get_figwidth())
            extra = -(-len(handles) // ncol) * LEGEND_ROW_IN + 0.6  # the legend's rows and a two-line title
            fig.set_size_inches(*fit_size(fig.get_figwidth(), fig.get_figheight() + extra))
            legend = fig.legend(handles=handles, loc="outside lower center", ncol=ncol, frameon=False)
            for text in legend.get_texts()[:len(present)]:
                text.set_fontweight("bold")
            part = f", page {k + 1} of {len(pages)}" if len(pages) > 1 else ""
            suptitle(fig, f"{table.setting}, {data.rule} rule: paired difference row − reference of {metric}, mean "
                          f"and 95 % paired-t interval over up to {trials} trials (the Δ columns of the table){part}")
            out[key] = fig
    if not out:
        raise FigureSkipped("no setting has a paired comparison with a reference row (source-only or a default "
                            "baseline) in its primary metric")
    return out
