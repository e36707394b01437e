"""The figure registry: one function per figure, ``f(data: ReportData) -> {name: Figure}``.

Each function is marked with :func:`benchmark.registry.register_figure` in one of the
modules of :data:`FIGURE_MODULES`; :func:`benchmark.registry.load_registries` collects
them (``python -m benchmark list figures``).  A function returns one matplotlib figure
per variant it draws (``""`` for a single figure, else e.g. the setting's slug), or raises
:class:`benchmark.report.data.FigureSkipped` with the reason when its records hold
nothing to draw.  It never trains anything: it reads records, ``samples.npz`` /
``outputs.npz`` and the tasks' closed forms.  Styling and saving are the report's job
(:mod:`benchmark.report.style`), so a function only draws.

Figure modules import matplotlib lazily (inside the functions), so loading the
registries stays cheap for every run.
"""

from __future__ import annotations

import importlib
from types import ModuleType

FIGURE_MODULES = (
    "benchmark.report.figures.samples",
    "benchmark.report.figures.curves",
    "benchmark.report.figures.ecg",
    "benchmark.report.figures.guidance",
)

# The paper set (``report --paper``), in the order the figures are numbered.
PAPER_FIGURES = (
    "samples-2d",
    "density-ratio",
    "metric-vs-n-target",
    "regularisation-ablation",
    "conditional-samples",
    "highdim-curves",
    "noisy-source-curves",
    "ecg-leads",
    "ecg-embedding",
    "ecg-downstream-auc",
)


def figure_modules() -> list[ModuleType]:
    """The imported figure modules, for the registry to collect."""
    return [importlib.import_module(name) for name in FIGURE_MODULES]
