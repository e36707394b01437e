"""Drawing helpers shared by the figure functions (statistics, error-bar lines, contours)."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

SCATTER_POINTS = 500  # the first 500 samples of a run: a fixed subset, samples are i.i.d.
CONTOUR_GRID = 160


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


def scatter_limits(reference: Optional[np.ndarray], fallback: np.ndarray, pad: float = 0.25) -> tuple[float, float]:
    """Symmetric-ish square limits covering 99.8% of the reference points (or the fallback)."""
    pts = reference if reference is not None and len(reference) else fallback
    lo, hi = np.quantile(pts, [0.001, 0.999])
    span = hi - lo
    return float(lo - pad * span), float(hi + pad * span)


def density_grid(log_prob: Any, lims: tuple[float, float], size: int = CONTOUR_GRID) -> tuple[np.ndarray, ...]:
    """(X, Y, density) on a size x size grid over lims^2 from a closed-form ``log_prob(x: (B, 2))``."""
    import torch

    lin = np.linspace(lims[0], lims[1], size)
    gx, gy = np.meshgrid(lin, lin, indexing="xy")
    pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1)).double()
    with torch.no_grad():
        dens = log_prob(pts).exp().numpy().reshape(size, size)
    return gx, gy, dens


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
