"""The fixed matplotlib style and byte-stable saving (PDF and PNG).

Every figure is drawn inside :func:`figure_style` (matplotlib's defaults, whatever the
user's matplotlibrc says, plus :data:`RC`), on the Agg backend, and saved by
:func:`save_figure` with the metadata that carries dates or versions removed, so the same
records give the same bytes.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Sequence

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


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """matplotlib's defaults plus :data:`RC`, restored on exit."""
    with plt.style.context("default"), plt.rc_context(RC):
        yield


def new_figure(rows: int, cols: int, panel: float = PANEL_IN, **kwargs) -> tuple[Figure, "list[list]"]:
    """A figure with a rows x cols grid of axes (always a 2-D list), constrained layout."""
    fig, axes = plt.subplots(rows, cols, figsize=(panel * cols + 0.6, panel * rows + 0.4), squeeze=False,
                             layout="constrained", **kwargs)
    return fig, axes


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
