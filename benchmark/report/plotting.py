"""Drawing helpers shared by the figure functions (statistics, error-bar lines, contours)."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from benchmark.figure_data import SCATTER_POINTS, scatter_limits  # noqa: F401 (the figures import them from here)


def cell_stats(tidy: pd.DataFrame, metric: str, by: Sequence[str]) -> pd.DataFrame:
    """mean, std (ddof = 1; 0 for one trial), count and mean lo / hi of ``metric`` grouped by ``by``."""
    sub = tidy[tidy.metric == metric]
    if sub.empty:
        return pd.DataFrame(columns=[*by, "mean", "std", "count", "lo", "hi"])
    agg = sub.groupby(list(by), sort=True).agg(mean=("value", "mean"), std=("value", "std"),
                                               count=("value", "count"), lo=("lo", "mean"), hi=("hi", "mean"))
    agg["std"] = agg["std"].fillna(0.0)
    return agg.reset_index()


def errorbar_lines(ax: Any, stats: pd.DataFrame, x: str, group: str, colours: Mapping[str, Any],
                   order: Sequence[str], use_interval: bool = False, marker: str = "o", linestyle: str = "-") -> None:
    """One line per ``group`` value (in ``order``) of mean vs ``x`` with std error bars, or
    with the mean bootstrap interval [lo, hi] when ``use_interval`` and the bounds exist."""
    for name in order:
        g = stats[stats[group] == name].sort_values(x)
        if g.empty:
            continue
        if use_interval and g.lo.notna().all() and g.hi.notna().all():
            err = np.vstack([g["mean"] - g.lo, g.hi - g["mean"]]).clip(min=0)
        else:
            err = g["std"].to_numpy()
        ax.errorbar(g[x].to_numpy(), g["mean"].to_numpy(), yerr=err, label=str(name), color=colours.get(name),
                    marker=marker, linestyle=linestyle, capsize=2)


def draw_contours(ax: Any, grid: Optional[tuple[np.ndarray, ...]]) -> None:
    if grid is not None:
        gx, gy, dens = grid
        ax.contour(gx, gy, dens, levels=6, colors="0.35", linewidths=0.6)


def legend_ncol(labels: Sequence[str], width_in: float) -> int:
    """Columns of a legend of ``labels`` that fit ``width_in`` inches (the rule of
    :mod:`benchmark.report.style`: the longest label sets every column's width)."""
    from benchmark.report.style import LEGEND_CHAR_IN, LEGEND_HANDLE_IN

    if not labels:
        return 1
    column = LEGEND_HANDLE_IN + LEGEND_CHAR_IN * max(len(str(label)) for label in labels)
    return max(1, min(len(labels), int((width_in - 0.2) // column)))


def legend_below(fig: Any, axes: Sequence[Any], ncol: Optional[int] = None) -> Any:
    """One legend for the figure, under the panels: every labelled line of ``axes`` once (first
    appearance order), in as many columns as fit the figure's width (at most ``ncol``); the figure
    grows by the legend's rows (within the maximum height).  Returns the legend (None if no line)."""
    from benchmark.report.style import LEGEND_ROW_IN, fit_size

    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if not seen:
        return None
    labels = list(seen)
    cols = legend_ncol(labels, fig.get_figwidth())
    cols = min(cols, ncol) if ncol else cols
    rows = -(-len(labels) // cols)
    fig.set_size_inches(*fit_size(fig.get_figwidth(), fig.get_figheight() + rows * LEGEND_ROW_IN + 0.1))
    return fig.legend(list(seen.values()), labels, loc="outside lower center", ncol=cols, frameon=False)


def hide_unused(axes_flat: Sequence[Any], used: int) -> None:
    for ax in axes_flat[used:]:
        ax.set_visible(False)


def suptitle(fig: Any, text: str) -> None:
    """The figure title, wrapped to the figure's width (no text is cut off at the edges)."""
    import textwrap

    width = max(30, int(fig.get_figwidth() * 13))
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in text.split("\n")))
