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


def legend_below(fig: Any, axes: Sequence[Any], ncol: int = 4) -> None:
    """One legend for the figure, under the panels, from the first axes that has lines."""
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=min(ncol, len(labels)), frameon=False)
            return


def hide_unused(axes_flat: Sequence[Any], used: int) -> None:
    for ax in axes_flat[used:]:
        ax.set_visible(False)


def suptitle(fig: Any, text: str) -> None:
    """The figure title, wrapped to the figure's width (no text is cut off at the edges)."""
    import textwrap

    width = max(30, int(fig.get_figwidth() * 13))
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in text.split("\n")))
