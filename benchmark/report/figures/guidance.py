"""Guidance diagnostics: the cosine of grad log ĥ against grad log h* by diffusion time.

Reads the ``grad_cos_t{t}`` metrics that every TGDP-family record holds on closed-form tasks
(:mod:`benchmark.tgdp.diagnostics`): one panel per n_target, one line per guidance
estimator (table variant), mean ± std over seeds against t.  Each estimator is styled by its
source (:func:`benchmark.report.style.method_style`), the legend grouped under paper / published
baselines / ours / references.
"""

from __future__ import annotations

from typing import Any

from benchmark.registry import register_figure
from benchmark.report.data import FigureSkipped, ReportData
from benchmark.report.plotting import cell_stats, errorbar_lines, hide_unused, legend_below, styles_for, suptitle

PREFIX = "grad_cos_t"


@register_figure("guidance-cosine-by-t", "cosine of grad log ĥ vs the exact grad log h* against t, one line per "
                 "guidance estimator (closed-form tasks)")
def guidance_cosine_by_t(data: ReportData) -> dict[str, Any]:
    from benchmark.report.style import grid_shape, new_figure

    out = {}
    for setting in data.settings():
        tidy = data.tidy[(data.tidy.setting == setting) & data.tidy.metric.str.startswith(PREFIX)]
        if tidy.empty:
            continue
        tidy = tidy.assign(t=tidy.metric.str[len(PREFIX):].astype(float), metric="grad_cos")
        order = [v for v in data.variants(setting) if v in set(tidy.variant)]
        styles = styles_for(tidy, order, data.regs.methods if data.regs is not None else None)
        ns = sorted(tidy.n_target.unique())
        rows, cols = grid_shape(len(ns))
        fig, axes = new_figure(rows, cols, panel=2.4 if len(ns) > 1 else 3.6)
        flat = [ax for row in axes for ax in row]
        hide_unused(flat, len(ns))
        for ax, n in zip(flat, ns):
            stats = cell_stats(tidy[tidy.n_target == n], "grad_cos", ["variant", "t"])
            errorbar_lines(ax, stats, "t", "variant", {}, order, styles=styles)
            ax.set_xscale("log")
            ts = sorted(tidy.t.unique())
            ax.set_xticks(ts, [f"{t:g}" for t in ts])
            ax.minorticks_off()
            ax.axhline(1.0, color="0.6", lw=0.8, ls=":")
            ax.set_ylim(min(-0.1, float(stats["mean"].min()) - 0.05), 1.05)
            ax.set_title(f"n_target = {n}")
            ax.set_xlabel("diffusion time t")
            ax.set_ylabel("cosine to exact (higher is better)")
        legend_below(fig, flat, groups={v: st.group for v, st in styles.items()})
        suptitle(fig, f"{setting}\ncosine of grad log ĥ vs grad log h* at x_t ~ q_t (std over seeds)")
        out[data.done(setting).slug.iloc[0]] = fig
    if not out:
        raise FigureSkipped("no done record holds grad_cos_t* diagnostics (TGDP rows on a closed-form task)")
    return out
