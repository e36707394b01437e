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


def method_groups(tidy: pd.DataFrame, methods: Any = None) -> dict[str, str]:
    """``{variant: legend group}`` (:data:`benchmark.report.style.SOURCE_GROUPS`) of the variants of
    ``tidy`` (columns ``variant``, ``method``, ``hparams``), from the same (group, source) the
    tables show (:func:`benchmark.report.tables.row_info`)."""
    import json

    from benchmark.report.style import legend_group
    from benchmark.report.tables import row_info

    out = {}
    if tidy.empty:
        return out
    for variant, g in tidy.groupby("variant", sort=False):
        hp = [json.loads(h) if isinstance(h, str) else dict(h or {}) for h in g.hparams.drop_duplicates()] \
            if "hparams" in g else []
        out[str(variant)] = legend_group(*row_info(str(variant), str(g.method.iloc[0]), methods, hp))
    return out


def styles_for(tidy: pd.DataFrame, order: Sequence[str], methods: Any = None) -> dict[str, Any]:
    """``{variant: MethodStyle}`` of the variants in ``order`` (:func:`method_groups`, then
    :func:`benchmark.report.style.method_styles`; the group order of the legend)."""
    from benchmark.report.style import method_styles

    groups = method_groups(tidy, methods)
    return method_styles({v: groups.get(v, "other") for v in order})


def errorbar_lines(ax: Any, stats: pd.DataFrame, x: str, group: str, colours: Mapping[str, Any],
                   order: Sequence[str], use_interval: bool = False, marker: str = "o", linestyle: str = "-",
                   styles: Optional[Mapping[str, Any]] = None) -> None:
    """One line per ``group`` value (in ``order``) of mean vs ``x`` with std error bars, or
    with the mean bootstrap interval [lo, hi] when ``use_interval`` and the bounds exist.
    ``styles`` (``{name: MethodStyle}``) overrides colour, marker and line style per name."""
    for name in order:
        g = stats[stats[group] == name].sort_values(x)
        if g.empty:
            continue
        if use_interval and g.lo.notna().all() and g.hi.notna().all():
            err = np.vstack([g["mean"] - g.lo, g.hi - g["mean"]]).clip(min=0)
        else:
            err = g["std"].to_numpy()
        look = styles[name].kwargs() if styles and name in styles else \
            {"color": colours.get(name), "marker": marker, "linestyle": linestyle}
        ax.errorbar(g[x].to_numpy(), g["mean"].to_numpy(), yerr=err, label=str(name), capsize=2, **look)


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


def _partition(lengths: Sequence[int], k: int) -> list[list[int]]:
    """Indices 0..len-1 split into ``k`` contiguous runs minimising the longest run's total."""
    import itertools

    n = len(lengths)
    best, best_cost = [list(range(n))], sum(lengths)
    for cuts in itertools.combinations(range(1, n), k - 1):
        bounds = (0, *cuts, n)
        runs = [list(range(a, b)) for a, b in zip(bounds, bounds[1:])]
        cost = max(sum(lengths[i] for i in run) for run in runs)
        if cost < best_cost:
            best, best_cost = runs, cost
    return best


def grouped_entries(seen: Mapping[str, Any], groups: Mapping[str, str],
                    width_in: float) -> tuple[list[Any], list[str], int, list[str]]:
    """(handles, labels, ncol, headers) of a legend whose entries are grouped by legend group
    (:data:`~benchmark.report.style.SOURCE_GROUPS` order): each group starts with its header
    (:data:`~benchmark.report.style.GROUP_TITLES`, a label without a handle) and stays in one legend
    column; groups share a column where fewer columns fit the width; columns are padded with blank
    entries to one length, so matplotlib's column-major fill keeps them apart."""
    from matplotlib.lines import Line2D

    from benchmark.report.style import GROUP_TITLES, SOURCE_GROUPS

    blank = lambda: Line2D([], [], linestyle="none", marker="none")  # noqa: E731
    present = [g for g in SOURCE_GROUPS if any(groups.get(label, "other") == g for label in seen)]
    blocks = [[(blank(), GROUP_TITLES[g])] + [(h, label) for label, h in seen.items() if groups.get(label, "other") == g]
              for g in present]
    labels_all = [label for block in blocks for _, label in block]
    k = max(1, min(len(blocks), legend_ncol(labels_all, width_in)))
    columns = [[e for i in run for e in blocks[i]] for run in _partition([len(b) for b in blocks], k)]
    rows = max(len(c) for c in columns)
    entries = [e for c in columns for e in c + [(blank(), "")] * (rows - len(c))]
    return [h for h, _ in entries], [label for _, label in entries], len(columns), [GROUP_TITLES[g] for g in present]


def legend_below(fig: Any, axes: Sequence[Any], ncol: Optional[int] = None,
                 groups: Optional[Mapping[str, str]] = None) -> Any:
    """One legend for the figure, under the panels: every labelled line of ``axes`` once (first
    appearance order), in as many columns as fit the figure's width (at most ``ncol``); the figure
    grows by the legend's rows (within the maximum height).  With ``groups`` (``{label: legend
    group}``) the entries are grouped under bold headers "paper", "published baselines", "ours",
    "references" (:func:`grouped_entries`).  Returns the legend (None if no line)."""
    from benchmark.report.style import LEGEND_ROW_IN, fit_size

    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if not seen:
        return None
    if groups is not None:
        handles, labels, cols, headers = grouped_entries(seen, groups, fig.get_figwidth())
        rows = len(labels) // cols
        fig.set_size_inches(*fit_size(fig.get_figwidth(), fig.get_figheight() + rows * LEGEND_ROW_IN + 0.1))
        legend = fig.legend(handles, labels, loc="outside lower center", ncol=cols, frameon=False)
        for text in legend.get_texts():
            if text.get_text() in headers:
                text.set_fontweight("bold")
        return legend
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
