"""The ranking across tasks and n_target (:mod:`benchmark.report.ranking`) as one figure.

One row per method, sorted by mean rank (best at the top): the mean rank as a dot and its
bootstrap interval over trials as a line; marker and line style say whether the method is
the paper's (paper+: run with an option added here), a published baseline or ours.
"""

from __future__ import annotations

from typing import Any

from benchmark.registry import register_figure
from benchmark.report.data import FigureSkipped, ReportData

#: source -> (marker, line style, label)
STYLES = {
    "paper": ("o", "-", "paper (TGDP)"),
    "paper+": ("D", "-", "paper, option added here"),
    "published": ("s", "--", "published baseline"),
    "ours": ("^", ":", "ours"),
}


@register_figure("ranking", "mean rank of every method over (setting, n_target, primary metric) cells, with a "
                 "bootstrap interval over trials; marker and line style: paper / published / ours")
def ranking_figure(data: ReportData) -> dict[str, Any]:
    from benchmark.report.ranking import primary_tables, ranking
    from matplotlib.lines import Line2D

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
    handles = {}
    for y, row in enumerate(frame.itertuples()):
        marker, ls, label = STYLES.get(row.source.split("/")[0], ("x", "-.", row.source))
        ax.plot([row.lo, row.hi], [y, y], ls=ls, color="0.3", lw=1.2)
        ax.plot([row.mean_rank], [y], marker=marker, ls="none", color="0.1", ms=5)
        handles.setdefault(label, Line2D([], [], marker=marker, ls=ls, color="0.1", ms=5, label=label))
    ax.set_yticks(range(len(frame)), [f"{m} ({c})" for m, c in zip(frame.method, frame.cells)])
    ax.invert_yaxis()
    ax.set_xlabel("mean rank (1 = best); line: 95 % bootstrap interval over trials")
    ax.set_title(f"mean rank over {len(rk.cells)} cells (setting, n_target, primary metric)\n"
                 "method (k): k cells ranked")
    fig.legend(handles=list(handles.values()), loc="outside lower center", ncol=len(handles), frameon=False)
    return {"": fig}
