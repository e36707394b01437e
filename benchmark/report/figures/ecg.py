"""ECG figures: generated leads beside real ones, a PCA embedding, downstream AUC.

ECG samples are ``(N, leads, length)`` arrays at :data:`benchmark.ecg.leads.SAMPLE_RATE_HZ`
(the 8 independent leads I, II, V1-V6).  "Real" records are held-out target records the
runner wrote with the run (:mod:`benchmark.figure_data`); a record without them (an older
record, a results folder without its artifacts) gets its real column marked unavailable.  Each method is shown at its largest n_target, smallest trial.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Optional

import numpy as np

from benchmark.figure_data import HELDOUT_RECORDS
from benchmark.registry import register_figure
from benchmark.report.data import FigureSkipped, ReportData
from benchmark.report.figures.curves import metric_panels
from benchmark.report.plotting import suptitle

SHOWN_LEADS = 4
EMBED_POINTS = HELDOUT_RECORDS  # real records of the PCA fit (the figure data holds that many)
AUC_PATTERNS = ("downstream_auc", "*macro_auc*")


def _ecg_settings(data: ReportData) -> list[str]:
    return [s for s in data.settings() if (shape := data.sample_shape(s)) is not None and len(shape) == 2]


def _lead_names(n_leads: int) -> list[str]:
    from benchmark.ecg.leads import LEADS_8, LEADS_12

    return list({8: LEADS_8, 12: LEADS_12}.get(n_leads, [f"lead {i}" for i in range(n_leads)]))


def _generated(data: ReportData, setting: str) -> tuple[int, dict[str, np.ndarray], Any]:
    """(n_target, {variant: samples}, a run of that n_target) at the setting's largest n_target."""
    n = int(data.done(setting).n_target.max())
    out, any_run = {}, None
    for v in data.variants(setting):
        run = data.first_run(setting, v, n)
        arrays = None if run is None else data.arrays(run.run_id)
        if arrays is not None and "samples" in arrays:
            out[v] = arrays["samples"]
            any_run = run
    return n, out, any_run


def _real(data: ReportData, run: Any) -> Optional[np.ndarray]:
    fd = None if run is None else data.figure_data(run)
    return None if fd is None or "heldout_records" not in fd else fd["heldout_records"]


@register_figure("ecg-leads", "ECG: generated leads of each method beside a real held-out record")
def ecg_leads(data: ReportData) -> dict[str, Any]:
    from benchmark.report.style import page_keys, paged, rows_per_page

    out = {}
    for setting in _ecg_settings(data):
        n, gen, run = _generated(data, setting)
        if not gen:
            continue
        real = _real(data, run)
        n_leads = next(iter(gen.values())).shape[1]
        names = _lead_names(n_leads)
        shown = list(range(min(SHOWN_LEADS, n_leads)))
        real_row = ("real (held-out)", None if real is None else real[0])
        pages = paged([(v, x[0]) for v, x in gen.items()], rows_per_page(len(shown), LEADS_PANEL) - 1)
        for k, (key, page) in enumerate(zip(page_keys(data.done(setting).slug.iloc[0], len(pages)), pages)):
            out[key] = _leads_page(setting, n, [real_row, *page], shown, names,
                                   f" (page {k + 1} of {len(pages)})" if len(pages) > 1 else "")
    if not out:
        raise FigureSkipped("no done ECG run (samples of shape (N, leads, length)) saved samples.npz")
    return out


LEADS_PANEL = 1.6


def _leads_page(setting: str, n: int, rows: list, shown: list[int], names: list[str], part: str) -> Any:
    """One page of ``ecg-leads``: the real record's row, then one row per method."""
    from benchmark.ecg.leads import SAMPLE_RATE_HZ
    from benchmark.report.style import new_figure

    fig, axes = new_figure(len(rows), len(shown), panel=LEADS_PANEL, sharex=True, sharey="col")
    for i, (label, rec) in enumerate(rows):
        for j, lead in enumerate(shown):
            ax = axes[i][j]
            if rec is None:
                ax.text(0.5, 0.5, "real data unavailable", ha="center", va="center", transform=ax.transAxes)
            else:
                t = np.arange(rec.shape[-1]) / SAMPLE_RATE_HZ
                ax.plot(t, rec[lead], color="k" if i == 0 else "C0", linewidth=0.6)
            if i == 0:
                ax.set_title(names[lead])
            if j == 0:
                ax.set_ylabel(label)
            if i == len(rows) - 1:
                ax.set_xlabel("time (s)")
    suptitle(fig, f"{setting}: first generated record per method (n_target = {n}) and a real one{part}")
    return fig


@register_figure("ecg-embedding", "ECG: PCA of real vs generated records (flattened signals), one panel per method")
def ecg_embedding(data: ReportData) -> dict[str, Any]:
    from benchmark.report.style import grid_shape, new_figure, page_keys, paged, rows_per_page

    out, reasons = {}, []
    for setting in _ecg_settings(data):
        n, gen, run = _generated(data, setting)
        real = _real(data, run)
        if not gen or real is None:
            reasons.append(f"{setting}: its records name no real held-out records (older records, or the artifacts folder is absent)")
            continue
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, svd_solver="full").fit(real[:EMBED_POINTS].reshape(min(len(real), EMBED_POINTS), -1))
        r2 = pca.transform(real[:EMBED_POINTS].reshape(min(len(real), EMBED_POINTS), -1))
        cols = grid_shape(len(gen))[1]
        pages = paged(list(gen.items()), cols * rows_per_page(cols, 2.0))
        for k, (key, page) in enumerate(zip(page_keys(data.done(setting).slug.iloc[0], len(pages)), pages)):
            rows, cols = grid_shape(len(page))
            fig, axes = new_figure(rows, cols, panel=2.0, sharex=True, sharey=True)
            flat = [ax for row in axes for ax in row]
            for ax, (v, x) in zip(flat, page):
                g2 = pca.transform(x[:EMBED_POINTS].reshape(min(len(x), EMBED_POINTS), -1))
                ax.scatter(r2[:, 0], r2[:, 1], s=3, color="0.6", label="real", rasterized=True)
                ax.scatter(g2[:, 0], g2[:, 1], s=3, color="C0", label="generated", rasterized=True)
                ax.set_title(v)
            for ax in flat[len(page):]:
                ax.set_visible(False)
            flat[0].legend(loc="best")
            part = f" (page {k + 1} of {len(pages)})" if len(pages) > 1 else ""
            suptitle(fig, f"{setting}: PCA (fit on real) of real vs generated records, n_target = {n}{part}")
            out[key] = fig
    if not out:
        raise FigureSkipped("; ".join(reasons) or "no done ECG run saved samples.npz")
    return out


@register_figure("ecg-downstream-auc", "ECG: downstream macro-AUC against n_target, one line per method")
def ecg_downstream_auc(data: ReportData) -> dict[str, Any]:
    out = {}
    for setting in data.settings():
        tidy = data.tidy[data.tidy.setting == setting]
        metrics = sorted(m for m in tidy.metric.unique() if any(fnmatch.fnmatchcase(m, p) for p in AUC_PATTERNS))
        if not metrics:
            continue
        from benchmark.report.figures.curves import NCOLS
        from benchmark.report.style import page_keys, paged, rows_per_page

        pages = paged(metrics, NCOLS * rows_per_page(NCOLS, 2.2))
        for key, page in zip(page_keys(data.done(setting).slug.iloc[0], len(pages)), pages):
            out[key] = metric_panels(
                tidy, page, "n_target", "variant", data.variants(setting),
                f"{setting}: downstream classifier on generated records (error bars: std over seeds, "
                "or the bootstrap interval for single-seed points)", "n_target", True,
                data.regs.methods if data.regs is not None else None)
    if not out:
        raise FigureSkipped("no done record has a downstream_auc metric (ECG tasks)")
    return out
