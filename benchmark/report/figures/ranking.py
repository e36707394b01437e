"""The ranking across tasks and n_target (:mod:`benchmark.report.ranking`) as one figure.

One row per method, sorted by mean rank (best at the top): the mean rank as a dot and its
bootstrap interval over trials as a line, styled by the method's source
(:func:`benchmark.report.style.method_style`: paper (paper+ too: run with an option added
here) solid blues, published baselines dashed oranges, ours dotted greens); the legend names
the groups.
"""

from __future__ import annotations

from typing import Any

from benchmark.registry import register_figure
from benchmark.report.data import FigureSkipped, ReportData


@register_figure("ranking", "mean rank of every method over (setting, n_target, primary metric) cells, with a "
                 "bootstrap interval over trials; colour, marker and line style: paper / published / ours")
def ranking_figure(data: ReportData) -> dict[str, Any]:
    from benchmark.report.ranking import primary_tables, ranking
    from matplotlib.lines import Line2D

    from benchmark.report.style import GROUP_TITLES, SOURCE_GROUPS, legend_group, method_style, method_styles
    from benchmark.report.style import new_figure

    methods = data.regs.methods if data.regs is not None else None
    rk = ranking(primary_tables(data.runs, data.tidy, methods))
    frame = rk.frame
    if frame.empty:
        raise FigureSkipped("no (setting, n_target) cell has two ranked competitor rows")
    height = min(8.0, 0.8 + 0.22 * len(frame))
    fig, axes = new_figure(1, 1, panel=height)
    ax = axes[0][0]
    fig.set_size_inches(6.0, height)
    groups = {m: legend_group(g.split("/")[0], s) for m, g, s in zip(frame.method, frame.group, frame.source)}
    styles = method_styles(groups)
    for y, row in enumerate(frame.itertuples()):
        st = styles[row.method]
        ax.plot([row.lo, row.hi], [y, y], ls=st.linestyle, color=st.color, lw=1.2)
        ax.plot([row.mean_rank], [y], marker=st.marker, ls="none", color=st.color, ms=5)
    ax.set_yticks(range(len(frame)), [f"{m} ({c})" for m, c in zip(frame.method, frame.cells)])
    ax.invert_yaxis()
    ax.set_xlabel("mean rank (1 = best); line: 95 % bootstrap interval over trials")
    ax.set_title(f"mean rank over {len(rk.cells)} cells (setting, n_target, primary metric)\n"
                 "method (k): k cells ranked")
    present = [g for g in SOURCE_GROUPS if g in set(groups.values())]
    handles = [Line2D([], [], label=GROUP_TITLES[g], **{**method_style(g).kwargs(), "ms": 5}) for g in present]
    from benchmark.report.plotting import legend_ncol

    ncol = legend_ncol([h.get_label() for h in handles], fig.get_figwidth())
    legend = fig.legend(handles=handles, loc="outside lower center", ncol=ncol, frameon=False)
    for text in legend.get_texts():
        text.set_fontweight("bold")
    return {"": fig}
