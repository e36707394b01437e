"""Figures of 2-D samples and of the density ratio, over the exact target contours.

Every panel shows the run of its cell with the smallest trial and its first
:data:`~benchmark.report.plotting.SCATTER_POINTS` samples, so the figure is fixed for
fixed records.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from benchmark.registry import register_figure
from benchmark.report.data import FigureSkipped, ReportData
from benchmark.figure_data import grid_axes
from benchmark.report.plotting import SCATTER_POINTS, draw_contours, scatter_limits, suptitle

PANEL = 1.5
MAX_COLS = 4  # panels per row (style.MAX_COLS); more variants wrap into further blocks of rows, then pages
#: the methods the paper compares, in its order (the ``samples-2d-paper`` figure of the paper set)
PAPER_METHODS = ("scratch", "finetune", "lora", "tgdp", "tgdp-cond", "target-oracle")


def _two_d_settings(data: ReportData) -> list[str]:
    return [s for s in data.settings() if data.sample_shape(s) == (2,)]


def _target_contours(data: ReportData, setting: str) -> tuple[Optional[tuple], tuple[float, float], dict[int, Any]]:
    """Exact target density grid, axis limits and the recorded figure data per n_target of a setting."""
    done = data.done(setting)
    stored = {}
    for n in sorted(done.n_target.unique()):
        run = done[done.n_target == n].sort_values(["trial", "run_id"]).iloc[0]
        stored[int(n)] = data.figure_data(run)
    fd = next((f for f in stored.values() if f is not None and "scatter_lims" in f), None)
    if fd is not None:
        lims = (float(fd["scatter_lims"][0]), float(fd["scatter_lims"][1]))
    else:
        lims = scatter_limits(None, np.concatenate([a["samples"] for a in (data.arrays(r) for r in done.run_id[:20])
                                                    if a is not None]))
    grid = None
    if fd is not None and "target_density" in fd:
        dens = fd["target_density"]
        grid = (*grid_axes(lims, dens.shape[0]), dens)
    return grid, lims, stored


def _sample_grid(data: ReportData, setting: str, conditional: bool,
                 methods: Optional[Sequence[str]] = None) -> list[Any]:
    """Panels n_target x variants, wrapped into blocks of at most :data:`MAX_COLS` columns
    (block b holds variants 4b..4b+3, one row per n_target), and into pages (figures) of as many
    blocks as fit the maximum height; ``methods`` keeps only the variants of those methods, in
    that order."""
    from benchmark.report.style import paged, rows_per_page

    cells = {}
    for v in data.variants(setting):
        for n in sorted(data.done(setting).n_target.unique()):
            run = data.first_run(setting, v, int(n))
            arrays = None if run is None else data.arrays(run.run_id)
            if arrays is None or "samples" not in arrays or (conditional and "labels" not in arrays):
                continue
            cells[(v, int(n))] = (arrays, run)
    variants = [v for v in data.variants(setting) if any(k[0] == v for k in cells)]
    if methods is not None:
        method_of = data.done(setting).drop_duplicates("variant").set_index("variant").method.to_dict()
        variants = sorted((v for v in variants if method_of.get(v) in methods),
                          key=lambda v: (list(methods).index(method_of[v]), v))
    if not variants:
        return []
    ns = sorted({k[1] for k in cells if k[0] in variants})
    contours = _target_contours(data, setting)
    cols = min(MAX_COLS, len(variants))
    per_page = cols * max(1, rows_per_page(cols, PANEL) // len(ns))
    pages = paged(variants, per_page)
    return [_sample_page(setting, page, ns, cells, contours, conditional,
                         f" (page {k + 1} of {len(pages)})" if len(pages) > 1 else "")
            for k, page in enumerate(pages)]


def _sample_page(setting: str, variants: list[str], ns: list[int], cells: dict, contours: tuple,
                 conditional: bool, part: str) -> Any:
    from benchmark.report.style import new_figure

    grid, lims, stored = contours
    cols = min(MAX_COLS, len(variants))
    blocks = math.ceil(len(variants) / cols)
    fig, axes = new_figure(blocks * len(ns), cols, panel=PANEL, sharex=True, sharey=True)
    for k, v in enumerate(variants):
        b, j = divmod(k, cols)
        for i, n in enumerate(ns):
            ax = axes[b * len(ns) + i][j]
            draw_contours(ax, grid)
            if (v, n) in cells:
                arrays, run = cells[(v, n)]
                x = arrays["samples"][:SCATTER_POINTS]
                if conditional:
                    ax.scatter(x[:, 0], x[:, 1], s=2, c=arrays["labels"][:SCATTER_POINTS], cmap="tab10",
                               vmin=0, vmax=9, rasterized=True)
                else:
                    ax.scatter(x[:, 0], x[:, 1], s=2, color="C0", alpha=0.6, rasterized=True)
                fd = stored.get(n)
                if fd is not None and "target_points" in fd and not conditional:
                    t = fd["target_points"][:SCATTER_POINTS]
                    ax.scatter(t[:, 0], t[:, 1], s=8, marker="x", color="k", linewidths=0.6)
            else:
                ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            ax.set_xlim(*lims)
            ax.set_ylim(*lims)
            ax.set_aspect("equal")
            if i == 0:
                ax.set_title(v)
            if j == 0:
                ax.set_ylabel(f"n_target = {n}")
    for k in range(len(variants), blocks * cols):  # the empty end of the last block
        b, j = divmod(k, cols)
        for i in range(len(ns)):
            axes[b * len(ns) + i][j].set_visible(False)
    what = "coloured by label" if conditional else "blue; the n target samples: black x"
    suptitle(fig, f"{setting}: generated samples ({what})\nover the exact target density contours{part}")
    return fig


def _sample_grids(data: ReportData, conditional: bool, none_reason: str,
                  methods: Optional[Sequence[str]] = None) -> dict[str, Any]:
    out = {}
    for setting in _two_d_settings(data):
        from benchmark.report.style import page_keys

        figs = _sample_grid(data, setting, conditional=conditional, methods=methods)
        out.update(zip(page_keys(data.done(setting).slug.iloc[0], len(figs)), figs))
    if not out:
        raise FigureSkipped(none_reason)
    return out


@register_figure("samples-2d", "generated 2-D samples of every method, n_target x methods (4 columns a row), "
                 "over the exact target density contours")
def samples_2d(data: ReportData) -> dict[str, Any]:
    return _sample_grids(data, False, "no done run of a 2-D task saved samples.npz")


@register_figure("samples-2d-paper", "samples-2d for the methods the paper compares: "
                 + ", ".join(PAPER_METHODS))
def samples_2d_paper(data: ReportData) -> dict[str, Any]:
    return _sample_grids(data, False, "no done run of the paper's methods on a 2-D task saved samples.npz",
                         methods=PAPER_METHODS)


@register_figure("conditional-samples", "samples of conditional methods coloured by their label, n_target x methods")
def conditional_samples(data: ReportData) -> dict[str, Any]:
    return _sample_grids(data, True, "no conditional method saved labelled 2-D samples (e.g. tgdp-cond)")


def _ratio_runs(data: ReportData, setting: str) -> tuple[str, dict[int, dict[str, np.ndarray]]]:
    """The first variant (``tgdp`` preferred) whose runs saved ``log_r_hat``, per n_target."""
    variants = data.variants(setting)
    variants = sorted(variants, key=lambda v: (v != "tgdp", variants.index(v)))
    for v in variants:
        grids = {}
        for n in sorted(data.done(setting).n_target.unique()):
            run = data.first_run(setting, v, int(n))
            arrays = None if run is None else data.arrays(run.run_id, "outputs.npz")
            if arrays is not None and {"grid_x", "grid_y", "log_r_hat"} <= set(arrays):
                grids[int(n)] = arrays
        if grids:
            return v, grids
    return "", {}


@register_figure("density-ratio", "log density ratio log q/p: exact vs the domain classifier's estimate per n_target")
def density_ratio(data: ReportData) -> dict[str, Any]:
    from benchmark.report.style import grid_shape, new_figure

    out = {}
    for setting in _two_d_settings(data):
        variant, grids = _ratio_runs(data, setting)
        if not grids:
            continue
        first = grids[min(grids)]
        gx, gy = first["grid_x"], first["grid_y"]
        exact = first.get("log_r_exact")
        if exact is None:
            raise FigureSkipped(f"{setting}: outputs.npz has log_r_hat but no log_r_exact")
        vlim = float(np.abs(np.quantile(exact, [0.01, 0.99])).max())
        vmin, vmax = -vlim, vlim
        levels = np.linspace(vmin, vmax, 17)  # symmetric: white is log r = 0
        panels = [(r"exact $\log r$", exact)] + [(rf"{variant} $\log\hat{{r}}$" + f"\nn_target = {n}", g["log_r_hat"])
                                           for n, g in sorted(grids.items())]
        rows, cols = grid_shape(len(panels))
        fig, axes = new_figure(rows, cols, panel=PANEL + 0.3, sharex=True, sharey=True)
        flat = [ax for row in axes for ax in row]
        for ax in flat[len(panels):]:
            ax.set_visible(False)
        mappable = None
        for ax, (title, z) in zip(flat, panels):
            mappable = ax.contourf(gx, gy, np.clip(z, vmin, vmax), levels=levels, cmap="RdBu_r", extend="both")
            ax.contour(gx, gy, exact, levels=[0.0], colors="k", linewidths=0.8, linestyles="--")
            ax.set_title(title)
            ax.set_aspect("equal")
        fig.colorbar(mappable, ax=flat[:len(panels)], shrink=0.8, label=r"$\log q(x)/p(x)$")
        suptitle(fig, f"{setting}: density ratio (dashed: exact log r = 0)")
        out[data.done(setting).slug.iloc[0]] = fig
    if not out:
        raise FigureSkipped("no run saved a classifier ratio grid (outputs.npz with log_r_hat); run tgdp on a 2-D task")
    return out
