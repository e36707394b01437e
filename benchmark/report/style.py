"""The fixed matplotlib style and byte-stable saving (PDF and PNG).

Every figure is drawn inside :func:`figure_style` (matplotlib's defaults, whatever the
user's matplotlibrc says, plus :data:`RC`), on the Agg backend, and saved by
:func:`save_figure` with the metadata that carries dates or versions removed, so the same
records give the same bytes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no display is ever needed

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "pdf.fonttype": 3,
    "image.cmap": "viridis",
    "path.simplify": False,
    "svg.hashsalt": "tldm-bench",
}
PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None}
PNG_METADATA = {"Software": None}
PANEL_IN = 2.0  # inches per panel

# -- Layout rules of every report figure (one place; docs/reports.md, "Figure layout") --------------
#: Panels per grid row: a figure with more panels wraps them into further rows, so no figure is
#: one tall column (nor one wide row).
MAX_COLS = 4
#: Width of a figure (inches): a page's text width, or both columns of a two-column paper.  Wider
#: grids get smaller panels (:func:`new_figure`), down to :data:`MIN_PANEL_IN`.
MAX_WIDTH_IN = 7.5
#: Height of a figure (inches).  A figure function whose rows do not fit splits them into several
#: files (pages, :func:`page_sizes`, :func:`page_keys`) instead of shrinking its panels: a page of
#: readable panels beats one image of 0.5-inch panels.
MAX_HEIGHT_IN = 10.0
#: width:height and height:width at most; a figure outside is padded (white space) to this ratio.
MAX_ASPECT = 3.0
#: The smallest panel (inches, either side) a figure may draw.
MIN_PANEL_IN = 1.0
#: Room (inches) a page keeps for its title, axis labels and a shared legend below the grid.
PAGE_RESERVE_IN = 1.4
#: The shared legend (:func:`benchmark.report.plotting.legend_below`): inches per character of a
#: label at ``legend.fontsize``, per column for the handle and gaps, and per legend row.
LEGEND_CHAR_IN = 0.055
LEGEND_HANDLE_IN = 0.5
LEGEND_ROW_IN = 0.17


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """matplotlib's defaults plus :data:`RC`, restored on exit."""
    with plt.style.context("default"), plt.rc_context(RC):
        yield


def fitted_panel(cols: int, panel: float = PANEL_IN) -> float:
    """The panel size a grid of ``cols`` columns gets: ``panel``, smaller where the row would be
    wider than :data:`MAX_WIDTH_IN` (never below :data:`MIN_PANEL_IN`)."""
    return max(MIN_PANEL_IN, min(panel, (MAX_WIDTH_IN - 0.6) / max(cols, 1)))


def grid_shape(n: int, max_cols: int = MAX_COLS) -> tuple[int, int]:
    """(rows, cols) of ``n`` panels wrapped into rows of at most ``max_cols``."""
    cols = max(1, min(max_cols, n))
    return -(-max(n, 1) // cols), cols


def rows_per_page(cols: int, panel: float = PANEL_IN, reserve: float = PAGE_RESERVE_IN) -> int:
    """How many grid rows of ``cols`` panels one figure holds within :data:`MAX_HEIGHT_IN`."""
    return max(1, int((MAX_HEIGHT_IN - 0.4 - reserve) // fitted_panel(cols, panel)))


def page_sizes(n: int, per_page: int) -> list[int]:
    """``n`` items split into as few pages of at most ``per_page`` as possible, balanced
    (e.g. 9 items, 8 a page: 5 + 4)."""
    pages = max(1, -(-n // max(per_page, 1)))
    return [n // pages + (1 if i < n % pages else 0) for i in range(pages)]


def paged(items: Sequence, per_page: int) -> list[list]:
    """``items`` in the pages of :func:`page_sizes`."""
    out, start = [], 0
    for size in page_sizes(len(items), per_page):
        out.append(list(items[start:start + size]))
        start += size
    return out


def page_keys(key: str, pages: int) -> list[str]:
    """The figure keys of a variant split into ``pages`` files: ``key`` alone, else ``key-page1``, ..."""
    if pages == 1:
        return [key]
    return [f"{key}-page{i + 1}" if key else f"page{i + 1}" for i in range(pages)]


def fit_size(width: float, height: float) -> tuple[float, float]:
    """(width, height) within :data:`MAX_WIDTH_IN` x :data:`MAX_HEIGHT_IN` and :data:`MAX_ASPECT`
    (the shorter side is padded)."""
    width, height = min(width, MAX_WIDTH_IN), min(height, MAX_HEIGHT_IN)
    height = max(height, width / MAX_ASPECT)
    width = max(width, height / MAX_ASPECT)
    return width, height


def new_figure(rows: int, cols: int, panel: float = PANEL_IN, **kwargs) -> tuple[Figure, "list[list]"]:
    """A figure with a rows x cols grid of axes (always a 2-D list), constrained layout, sized by
    the layout rules above: panels of ``panel`` inches (less where the row is too wide), the
    figure within the maximum width and height and the aspect bounds."""
    p = fitted_panel(cols, panel)
    fig, axes = plt.subplots(rows, cols, figsize=fit_size(p * cols + 0.6, p * rows + 0.4), squeeze=False,
                             layout="constrained", **kwargs)
    return fig, axes


# -- Method styles: a method's look says where it comes from (docs/reports.md, "Figure layout") -----
#: The legend groups of the methods a figure draws, in legend order, and each group's header.
#: ``paper``: the TGDP paper's methods (``paper+`` too: run with an option added here);
#: ``published``: published baselines; ``ours``: added in this benchmark; ``references``:
#: source-only, the oracles and the floor (not competitors); ``other``: a method of unknown source.
SOURCE_GROUPS = ("paper", "published", "ours", "references", "other")
GROUP_TITLES = {"paper": "paper", "published": "published baselines", "ours": "ours", "references": "references",
                "other": "other"}
#: line style of each group: paper solid, published dashed, ours dotted, references dash-dot (grey)
GROUP_LINESTYLES = {"paper": "-", "published": "--", "ours": ":", "references": "-.", "other": (0, (3, 1, 1, 1, 1, 1))}
#: the colour map each group's methods take their shades from (references: greys)
GROUP_CMAPS = {"paper": "Blues", "published": "Oranges", "ours": "Greens", "references": "Greys", "other": "Purples"}
#: markers, cycled within a group (neighbouring shades of one map differ in marker too)
GROUP_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "p", "*")


@dataclass(frozen=True)
class MethodStyle:
    """How a figure draws one method: ``color``, ``linestyle``, ``marker`` and its legend ``group``."""

    color: tuple
    linestyle: Any
    marker: str
    group: str

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``ax.plot`` / ``ax.errorbar``."""
        return {"color": self.color, "linestyle": self.linestyle, "marker": self.marker}


def legend_group(group: str, source: str) -> str:
    """The legend group (:data:`SOURCE_GROUPS`) of a table row's (group, source)
    (:func:`benchmark.report.tables.row_info`): references first, else by source."""
    if group == "reference":
        return "references"
    head = str(source).split("/")[0]
    if head in ("paper", "paper+"):
        return "paper"
    return head if head in ("published", "ours") else "other"


def method_style(label: str, index: int = 0, count: int = 1) -> MethodStyle:
    """The style of the ``index``-th of ``count`` methods of legend group ``label``
    (:data:`SOURCE_GROUPS`): the group's line style, a shade of the group's colour map (from light
    to dark over the group's methods; greys for references) and a marker cycled within the group."""
    label = label if label in GROUP_CMAPS else "other"
    cmap = plt.get_cmap(GROUP_CMAPS[label])
    lo, hi = (0.4, 0.75) if label == "references" else (0.5, 0.95)
    frac = index / (count - 1) if count > 1 else 0.5
    color = tuple(float(c) for c in cmap(lo + (hi - lo) * frac))
    return MethodStyle(color, GROUP_LINESTYLES[label], GROUP_MARKERS[index % len(GROUP_MARKERS)], label)


def method_styles(groups: Mapping[str, str]) -> dict[str, MethodStyle]:
    """``{method: MethodStyle}`` for ``{method: legend group}`` (in the mapping's order): each method
    styled by :func:`method_style` with its index among its group's methods."""
    members: dict[str, list[str]] = {}
    for name, label in groups.items():
        members.setdefault(label if label in GROUP_CMAPS else "other", []).append(name)
    out = {}
    for label, names in members.items():
        for i, name in enumerate(names):
            out[name] = method_style(label, i, len(names))
    return out


def colours(names: Sequence[str]) -> dict[str, tuple]:
    """A fixed colour per name, by its position in ``names`` (tab10, then tab20b)."""
    palette = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("tab20b").colors)
    return {n: palette[i % len(palette)] for i, n in enumerate(names)}


def save_figure(fig: Figure, folder: Path, stem: str) -> list[Path]:
    """Write ``stem.pdf`` and ``stem.png`` without date or version metadata; closes ``fig``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.pdf", folder / f"{stem}.png"]
    try:
        fig.savefig(paths[0], format="pdf", metadata=PDF_METADATA)
        fig.savefig(paths[1], format="png", metadata=PNG_METADATA)
    finally:
        plt.close(fig)
    return paths
