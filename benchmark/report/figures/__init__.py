"""The figure registry: one function per figure, ``f(data: ReportData) -> {name: Figure}``.

Each function is marked with :func:`benchmark.registry.register_figure` in one of the
modules of this package; :func:`benchmark.registry.load_registries` collects every module of
it (the package is in :data:`benchmark.builtin.BUILTIN_MODULES`, so a new figure file needs
no list entry) (``python -m benchmark list figures``).  A function returns one matplotlib figure
per variant it draws (``""`` for a single figure, else e.g. the setting's slug), or raises
:class:`benchmark.report.data.FigureSkipped` with the reason when its records hold
nothing to draw.  It never trains anything: it reads records, ``samples.npz`` /
``outputs.npz`` and the tasks' closed forms.  Styling and saving are the report's job
(:mod:`benchmark.report.style`), so a function only draws.

Figure modules import matplotlib lazily (inside the functions), so loading the
registries stays cheap for every run.
"""

from __future__ import annotations

# The paper set (``report --paper``), in the order the figures are numbered.
# ``samples-2d-paper`` shows the methods the paper compares; ``samples-2d`` (every method) stays in
# the report's figures/.
PAPER_FIGURES = (
    "samples-2d-paper",
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

