"""Result tables: rows are method variants, columns are n_target (per metric).

Each cell is the mean ± sample std (ddof = 1) over the trials (seeds) of that cell, the
mean with 3 significant digits and the std to the same decimal place (a common power of
ten outside [1e-3, 1e4)).  A cell with one trial shows the mean alone, followed by the
recorded bootstrap interval ``[lo, hi]`` when the metric has ``_lo``/``_hi`` keys.  A cell
with no value shows "–" and a note letter; a cell with fewer trials than expected carries a
note letter too.  Notes are lettered in row-major order.

Rows, grouped (:func:`row_info`): references (``source-only``, the oracles, and ``floor``:
the recorded ``<metric>_floor``, two halves of the held-out fold), unconditional methods,
label-conditional methods (they use labels); each row says whether it is the paper's
method, a published baseline or ours (``Method.source``).

Paired statistics (:mod:`benchmark.report.paired`): every competitor (not a reference) is
compared by trial with ``source-only`` and with the strongest default baseline of its column
(the best mean among finetune, lora and scratch): mean difference, 95 % paired-t interval,
sign count k/N, and ``*`` where the difference is significant after Holm's correction over
all these comparisons in the table.  **Bold** is the best mean of a column and every row not
significantly worse than it (paired t, Holm over the table's comparisons with the best);
nothing is bold in a column whose best has fewer than two trials.

Beside each value, ``(T x)`` is the normalised transfer score of the cell,
T = (M_source-only - M) / (M_source-only - M_target-oracle) on seed means of the same column
(:mod:`benchmark.report.transfer`; 0 = source-only, 1 = target-oracle); a note under the
table defines it and says why a column has "T –".

Full tables (``reports/tables/``) also show the cost of each row: the median seconds per
run (the records' ``cost.seconds``: fit + sample + reused cached stages, the shared source
model left out; fit + sample of ``timings`` for older records) and the median trained
parameters where the method records ``trainable_params``.

Each table is written three ways, beside each other: ``.tex`` (pandas ``Styler.to_latex``
with booktabs rules, a table float ready for ``\\input``), ``.md`` (``DataFrame.to_markdown``)
and ``.csv`` (the numbers in long form: one row per cell with mean, std, seeds, lo, hi,
the paired comparisons, bold and note).
"""

from __future__ import annotations

import functools
import json
import math
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from benchmark.report.metric_info import direction, direction_word, is_reference_method
from benchmark.report.numbers import _layout, displayed
from benchmark.report.paired import Paired, format_paired, paired, with_holm
from benchmark.report.runs import RunSet
from benchmark.report.transfer import format_transfer, transfer_scores
from benchmark.store import DONE, atomic_write_text

DASH = "–"
LATEX_DASH = "--"
NOTE_MESSAGE_CHARS = 70
SOURCE_ONLY = "source-only"
FLOOR = "floor"  # the reference row of the recorded ``<metric>_floor`` values
#: the reference row of the recorded ``downstream_real_<x>`` values: the downstream classifier
#: trained on the n real target records alone (for the ``downstream_<x>`` metrics)
REAL_ONLY = "real-only"
REFERENCE_NAMES = ("source-only", "baseline", REAL_ONLY)
#: the default baselines; the strongest of them (best mean of a column) is a named reference
DEFAULT_BASELINES = ("finetune", "lora", "scratch")
GROUPS = ("reference", "unconditional", "label-conditional")
GROUP_SHORT = {"reference": "ref", "unconditional": "uncond", "label-conditional": "labels"}
#: hyper-parameter values added in this benchmark: a "paper" row that sets one is "paper+"
OURS_OPTIONS = {"lagged_guidance": True, "guidance_loss": "logistic-resampled"}


@functools.lru_cache(maxsize=1)
def _builtin_methods() -> Any:
    from benchmark.registry import load_registries

    return load_registries().methods


def row_info(variant: str, method: str, methods: Any = None,
             hparams: Sequence[dict[str, Any]] = ()) -> tuple[str, str]:
    """(group, source) of a row: group is ``reference`` (source-only, an oracle, the floor),
    ``label-conditional`` (the method requires labels or samples per label) or
    ``unconditional``; source is the method class's ``source`` (paper, published, ours),
    ``paper+`` for a paper method run with an option of ours (:data:`OURS_OPTIONS` in any of
    the row's ``hparams``), "?" for a method not registered here."""
    methods = _builtin_methods() if methods is None else methods
    cls = methods.get(method) if method in methods else None
    source = str(getattr(cls, "source", "?")) if cls is not None else ("–" if variant == FLOOR else "?")
    if source == "paper" and any(h.get(k) == v for h in hparams for k, v in OURS_OPTIONS.items()):
        source = "paper+"
    if variant == FLOOR or method == SOURCE_ONLY or is_reference_method(variant):
        return "reference", source
    if cls is not None and ("labels" in getattr(cls, "requires", ()) or getattr(cls, "conditional", False)):
        return "label-conditional", source
    return "unconditional", source


@dataclass(frozen=True)
class Cell:
    """The statistics of one (variant, metric, n_target) cell over its done trials."""

    values: tuple[float, ...]
    expected: int  # trials planned (or seen in the grid) for this cell
    lo: Optional[float] = None  # mean bootstrap lower bound over trials, if recorded
    hi: Optional[float] = None
    note: str = ""  # why the cell is empty or partial
    trials: tuple[int, ...] = ()  # the trial of each value (default: 0, 1, ...)

    def by_trial(self) -> dict[int, float]:
        return dict(zip(self.trials or range(len(self.values)), self.values))

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else math.nan


@dataclass
class TableData:
    """Cells of one setting for some metrics: ``cells[(variant, metric, n_target)]``."""

    setting: str
    slug: str
    metrics: list[str]
    variants: list[str]
    n_targets: list[int]
    cells: dict[tuple[str, str, int], Cell] = field(default_factory=dict)
    info: dict[str, tuple[str, str]] = field(default_factory=dict)  # variant -> (group, source)
    cost: dict[str, tuple[float, float]] = field(default_factory=dict)  # variant -> (median s/run, params)
    #: which run of each cell the table reads and on which trials (the selection rule's note,
    #: :func:`benchmark.report.selected.protocol_note`); "" leaves it out
    protocol: str = ""

    def row(self, v: str) -> tuple[str, str]:
        """(group, source) of row ``v`` (:func:`row_info` on the variant's method by default)."""
        return self.info.get(v) or row_info(v, v.split("[", 1)[0])

    def competitors(self) -> list[str]:
        return [v for v in self.variants if self.row(v)[0] != "reference"]

    def references(self, metric: str, n: int) -> dict[str, str]:
        """The named reference rows of a column: ``{"source-only": row, "baseline": row}``
        (the baseline: the default baseline with the best mean; absent rows are left out)."""
        out = {}
        src = [v for v in self.variants if v.split("[", 1)[0] == SOURCE_ONLY]
        if len(src) == 1 and self.cells[(src[0], metric, n)].count:
            out["source-only"] = src[0]
        if REAL_ONLY in self.variants and self.cells[(REAL_ONLY, metric, n)].count:
            out[REAL_ONLY] = REAL_ONLY
        base = [v for v in self.variants if v.split("[", 1)[0] in DEFAULT_BASELINES
                and math.isfinite(self.cells[(v, metric, n)].mean)]
        d = direction(metric)
        if base and d:
            out["baseline"] = sorted(base, key=lambda v: self.cells[(v, metric, n)].mean * (1 if d == "min" else -1))[0]
        return out

    def _pair(self, a: str, b: str, metric: str, n: int) -> Optional[Paired]:
        x, y = self.cells[(a, metric, n)].by_trial(), self.cells[(b, metric, n)].by_trial()
        shared = sorted(set(x) & set(y))
        if not shared:
            return None
        return paired([x[t] for t in shared], [y[t] for t in shared], direction(metric) or "min")

    @functools.cached_property
    def comparisons(self) -> dict[tuple[str, str, str, int], Paired]:
        """``{(variant, reference name, metric, n): Paired}`` of every competitor against the
        named reference rows of its column, Holm-corrected over the whole table."""
        family = {}
        for m in self.metrics:
            if direction(m) is None:
                continue
            for n in self.n_targets:
                for name, ref in self.references(m, n).items():
                    for v in self.competitors():
                        if v != ref and self.cells[(v, m, n)].count:
                            c = self._pair(v, ref, m, n)
                            if c is not None:
                                family[(v, name, m, n)] = c
        return with_holm(family)

    @functools.cached_property
    def best(self) -> dict[tuple[str, str, int], Paired]:
        """``{(variant, metric, n): Paired}``: each competitor against the best mean of its column
        (the best row itself: a zero difference), Holm over the table's comparisons."""
        family, tops = {}, {}
        for m in self.metrics:
            d = direction(m)
            if d is None:
                continue
            for n in self.n_targets:
                rows = [v for v in self.competitors() if math.isfinite(self.cells[(v, m, n)].mean)]
                if not rows:
                    continue
                top = sorted(rows, key=lambda v: self.cells[(v, m, n)].mean * (1 if d == "min" else -1))[0]
                for v in rows:
                    if v != top:
                        c = self._pair(v, top, m, n)
                        if c is not None:
                            family[(v, m, n)] = c
                tops[(top, m, n)] = Paired(0.0, 0.0, 0.0, 0, self.cells[(top, m, n)].count, 1.0, p_holm=1.0)
        return {**with_holm(family), **tops}

    def bold(self) -> set[tuple[str, str, int]]:
        """The cells shown in bold: the best mean of each ranked column and every competitor
        not significantly worse than it (paired t over 2+ shared trials, Holm over the table);
        nothing where the best row has fewer than two trials."""
        out = set()
        for (v, m, n), c in self.best.items():
            if c.n >= 2 and not c.significant:
                out.add((v, m, n))
        return out

    def ranks(self) -> dict[tuple[str, str, int], int]:
        """Dense rank (1 = best) of each ranked cell within its (metric, n_target) column."""
        out: dict[tuple[str, str, int], int] = {}
        for metric in self.metrics:
            d = direction(metric)
            if d is None:
                continue
            for n in self.n_targets:
                keyed = {(v, metric, n): displayed(self.cells[(v, metric, n)].mean) for v in self.competitors()
                         if math.isfinite(self.cells[(v, metric, n)].mean)}
                if not keyed:
                    continue
                ranked = pd.Series(keyed).rank(method="dense", ascending=(d == "min"))
                out.update({k: int(r) for k, r in ranked.items()})
        return out


def _join_reasons(reasons: Sequence[tuple[int, str]]) -> str:
    by_reason: dict[str, list[int]] = {}
    for trial, reason in reasons:
        text = reason if len(reason) <= NOTE_MESSAGE_CHARS else reason[: NOTE_MESSAGE_CHARS - 1] + "…"
        by_reason.setdefault(text, []).append(trial)
    parts = []
    for text, trials in by_reason.items():
        word = "trial" if len(trials) == 1 else "trials"
        parts.append(f"{text} ({word} {', '.join(map(str, sorted(trials)))})")
    return "; ".join(parts)


def _ordered(variants: Sequence[str], info: dict[str, tuple[str, str]]) -> list[str]:
    """References (source-only, oracles, floor last), then unconditional, then label-conditional
    rows; alphabetical within a group."""
    def key(v: str) -> tuple:
        group = GROUPS.index(info[v][0])
        return (group, v == FLOOR, v.split("[", 1)[0] != SOURCE_ONLY if group == 0 else False, v)
    return sorted(set(variants), key=key)


def _cost(runs: RunSet, frame: pd.DataFrame, values: pd.DataFrame, variant: str) -> tuple[float, float]:
    """(median seconds per done run, median ``trainable_params``) of a row; nan where not recorded.
    Seconds: the record's ``cost.seconds`` (fit + sample + the builds of cached stages it reused,
    the shared source model left out), else fit + sample of its ``timings`` (older records)."""
    secs = []
    for rid in frame.run_id[(frame.variant == variant) & (frame.status == DONE)]:
        rec = runs.records.get(rid, {})
        t, cost = rec.get("timings") or {}, rec.get("cost") or {}
        if cost.get("seconds") is not None:
            secs.append(float(cost["seconds"]))
        elif "fit_s" in t and "sample_s" in t:
            secs.append(float(t["fit_s"]) + float(t["sample_s"]))
    params = values.value[(values.variant == variant) & (values.metric == "trainable_params")]
    return (float(np.median(secs)) if secs else math.nan, float(params.median()) if len(params) else math.nan)


def _floor_cells(data: TableData, values: pd.DataFrame) -> None:
    """Add the ``floor`` reference row where some metric has ``<metric>_floor`` values: per
    trial, the mean over that trial's runs (one held-out fold per trial)."""
    floors = {m: values[values.metric == f"{m}_floor"] for m in data.metrics}
    if not any(len(f) for f in floors.values()):
        return
    refs = [i for i, v in enumerate(data.variants) if data.row(v)[0] == "reference"]
    data.variants.insert(refs[-1] + 1 if refs else 0, FLOOR)  # the last reference row
    data.info[FLOOR] = ("reference", "–")
    for m, f in floors.items():
        for n in data.n_targets:
            per = f[f.n_target == n].groupby("trial").value.mean()
            note = "" if len(per) else f"no {m}_floor recorded"
            data.cells[(FLOOR, m, n)] = Cell(tuple(float(x) for x in per), len(per), note=note,
                                             trials=tuple(int(t) for t in per.index))


def real_key(metric: str) -> Optional[str]:
    """``downstream_real_<x>`` for ``downstream_<x>`` (the real-only classifier's value), else None."""
    prefix = "downstream_"
    if not metric.startswith(prefix) or metric.startswith(prefix + "real_") or metric.startswith(prefix + "gain_"):
        return None
    return f"{prefix}real_{metric[len(prefix):]}"


def _real_only_cells(data: TableData, values: pd.DataFrame) -> None:
    """Add the ``real-only`` reference row where some ``downstream_<x>`` metric has recorded
    ``downstream_real_<x>`` values: per trial, the mean over that trial's runs (the classifier
    on the n real records does not depend on the method), with its recorded bootstrap bounds."""
    reals = {m: values[values.metric == real_key(m)] for m in data.metrics if real_key(m)}
    if not any(len(f) for f in reals.values()):
        return
    refs = [i for i, v in enumerate(data.variants) if data.row(v)[0] == "reference"]
    data.variants.insert(refs[-1] + 1 if refs else 0, REAL_ONLY)
    data.info[REAL_ONLY] = ("reference", "–")
    for m in data.metrics:
        f = reals.get(m, values.iloc[:0])
        for n in data.n_targets:
            g = f[f.n_target == n].groupby("trial")
            per = g.value.mean()
            lo = float(g.lo.mean().mean()) if len(per) and f.lo.notna().any() else None
            hi = float(g.hi.mean().mean()) if len(per) and f.hi.notna().any() else None
            note = "" if len(per) else f"no {real_key(m) or 'real-only value'} recorded"
            data.cells[(REAL_ONLY, m, n)] = Cell(tuple(float(x) for x in per), len(per), lo, hi, note=note,
                                                 trials=tuple(int(t) for t in per.index))


def table_data(runs: RunSet, tidy: pd.DataFrame, setting: str, metrics: Sequence[str],
               methods: Any = None, protocol: str = "") -> TableData:
    """Collect the cells of ``setting`` for ``metrics`` (see the module docstring for rows);
    ``methods`` is the method registry that says each row's group and source (default: the
    built-in methods); ``protocol`` the selection note shown under the table."""
    frame = runs.frame[runs.frame.setting == setting]
    values = tidy[tidy.setting == setting]
    reporting = set(values.variant)
    n_targets = sorted(int(n) for n in frame.n_target.unique())
    metrics = list(metrics)
    # rows: variants reporting any of the metrics; variants with no done run join tables of
    # metrics every reporting variant has (they would have reported them).
    universal = [m for m in metrics if set(values[values.metric == m].variant) == reporting]
    has_metric = set(values[values.metric.isin(metrics)].variant)
    no_done = set(frame.variant) - reporting
    variants = [v for v in frame.variant.unique() if v in has_metric or (v in no_done and universal)]
    method_of = dict(zip(frame.variant, frame.method))
    hparams = {v: [json.loads(h) for h in set(frame.hparams[frame.variant == v])] for v in variants}
    info = {v: row_info(v, method_of[v], methods, hparams[v]) for v in variants}
    variants = _ordered(variants, info)
    data = TableData(setting, str(frame.slug.iloc[0]) if len(frame) else setting, metrics, variants, n_targets,
                     info=info, protocol=protocol)
    data.cost = {v: _cost(runs, frame, values, v) for v in variants}
    run_groups = {k: g for k, g in frame.groupby(["variant", "n_target"], sort=False)}
    value_groups = {k: g for k, g in values[values.metric.isin(metrics)].groupby(["variant", "n_target", "metric"],
                                                                                  sort=False)}
    empty_runs, empty_values = frame.iloc[:0], values.iloc[:0]
    for v in variants:
        for n in n_targets:
            runs_vn = run_groups.get((v, n), empty_runs)
            not_done = [(int(r.trial), r.reason or r.status) for r in runs_vn.itertuples() if r.status != DONE]
            done_trials = set(runs_vn.trial[runs_vn.status == DONE].astype(int))
            for m in metrics:
                vm = value_groups.get((v, n, m), empty_values).sort_values("trial")
                reasons = list(not_done)
                reasons += [(t, "not reported by this method") for t in sorted(done_trials - set(vm.trial))]
                if not len(runs_vn):
                    reasons = [(-1, "not in the plan")]
                note = _join_reasons(reasons).replace(" (trial -1)", "")
                if len(vm) and reasons:
                    note = f"{len(vm)} of {len(runs_vn)} seeds; {note}"
                lo = float(vm.lo.mean()) if vm.lo.notna().any() else None
                hi = float(vm.hi.mean()) if vm.hi.notna().any() else None
                data.cells[(v, m, n)] = Cell(tuple(float(x) for x in vm.value), len(runs_vn), lo, hi, note,
                                             tuple(int(t) for t in vm.trial))
    _floor_cells(data, values)
    _real_only_cells(data, values)
    return data


def format_mean_std(mean: float, std: float, latex: bool, sig: int = 3) -> str:
    """``mean ± std`` with ``sig`` significant digits on the mean and the std to the same
    decimal place; a common power of ten outside [1e-3, 1e4): ``(4.12 ± 0.31)e-5``."""
    e, d = _layout(mean, sig)
    pm = " $\\pm$ " if latex else " ± "
    scale = 10.0 ** e
    text = f"{mean / scale:.{d}f}"
    if math.isfinite(std):
        text += pm + f"{std / scale:.{d}f}"
    if e == 0:
        return text
    if math.isfinite(std):
        text = f"({text})"
    return text + (f"$\\cdot$10$^{{{e}}}$" if latex else f"e{e}")


def _cell_text(cell: Cell, latex: bool) -> str:
    """mean ± std; one seed with a recorded bootstrap interval: ``mean [lo, hi]``."""
    if not cell.count:
        return LATEX_DASH if latex else DASH
    text = format_mean_std(cell.mean, cell.std, latex)
    if cell.count == 1 and cell.lo is not None and cell.hi is not None:
        text += f" [{format_mean_std(cell.lo, math.nan, latex)}, {format_mean_std(cell.hi, math.nan, latex)}]"
    return text


def _note_letters(data: TableData) -> dict[str, str]:
    letters: dict[str, str] = {}
    for v in data.variants:
        for m in data.metrics:
            for n in data.n_targets:
                note = data.cells[(v, m, n)].note
                if note and note not in letters:
                    k = len(letters)
                    letters[note] = (chr(ord("a") + k % 26)) * (k // 26 + 1)
    return letters


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text (captions and notes); ± becomes
    ``$\\pm$`` and other non-ASCII characters their ASCII base letter, so pdflatex compiles it."""
    table = {"±": r"$\pm$", "Δ": r"$\Delta$", "α": r"$\alpha$", "−": "-", "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--", "…": r"\dots{}"}
    out = []
    for ch in text:
        if ch in table:
            out.append(table[ch])
        elif ord(ch) < 128:
            out.append(ch)
        elif unicodedata.combining(ch):
            continue
        else:  # pdflatex-safe: strip accents (r̂ -> r), else a question mark
            out.append(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode() or "?")
    return "".join(out)


def _fmt_diff(latex: bool):
    return lambda x: format_mean_std(x, math.nan, latex, sig=2)


def _value_name(data: TableData, m: str, n: int) -> str:
    return str(n) if len(data.metrics) == 1 else f"{m} n={n}"


def _comparison_columns(data: TableData) -> list[tuple[str, int, str]]:
    """(metric, n, reference name) of every column of paired differences the table shows."""
    have = {(m, n, name) for (_, name, m, n) in data.comparisons}
    return [(m, n, name) for m in data.metrics for name in REFERENCE_NAMES for n in data.n_targets
            if (m, n, name) in have]


def _comparison_name(data: TableData, m: str, n: int, name: str) -> str:
    ref = data.references(m, n).get(name, name)
    head = f"Δ vs {ref}, n={n}"
    return head if len(data.metrics) == 1 else f"{m}: {head}"


def _grid(data: TableData, latex: bool, cost: bool = False) -> pd.DataFrame:
    """The displayed strings: group, source, values (bold by the paired rule) with transfer
    score and note letter, paired differences against the named references, cost."""
    bold, letters, transfer = data.bold(), _note_letters(data), transfer_scores(data)
    comparisons, columns = data.comparisons, _comparison_columns(data)
    dash = LATEX_DASH if latex else DASH
    rows = []
    for v in data.variants:
        group, source = data.row(v)
        row: dict[str, str] = {"group": GROUP_SHORT[group], "source": dash if source == DASH else source}
        for m in data.metrics:
            for n in data.n_targets:
                cell = data.cells[(v, m, n)]
                s = _cell_text(cell, latex)
                if (v, m, n) in bold:  # the value only, not its transfer score
                    s = f"\\textbf{{{s}}}" if latex else f"**{s}**"
                if cell.count and transfer.shown(m):
                    t = format_transfer(transfer.scores.get((v, m, n)))
                    s += f" ({t.replace(DASH, LATEX_DASH) if latex else t})"
                if cell.note:
                    s += f"\\textsuperscript{{{letters[cell.note]}}}" if latex else f"<sup>{letters[cell.note]}</sup>"
                row[_value_name(data, m, n)] = s
        for m, n, name in columns:
            c = comparisons.get((v, name, m, n))
            is_ref = group == "reference" or data.references(m, n).get(name) == v
            text = "" if is_ref else (format_paired(c, _fmt_diff(latex), latex) if c is not None else dash)
            row[_comparison_name(data, m, n, name)] = text
        if cost:
            secs, params = data.cost.get(v, (math.nan, math.nan))
            row["s/run"] = f"{secs:.3g}" if math.isfinite(secs) else dash
            row["params"] = f"{params:,.0f}" if math.isfinite(params) else dash
        rows.append(row)
    frame = pd.DataFrame(rows, index=pd.Index([latex_escape(v) if latex else v for v in data.variants]))
    if latex:
        frame.columns = [latex_escape(c) for c in frame.columns]
    return frame


def _seed_phrase(data: TableData) -> str:
    counts = sorted({c.count for c in data.cells.values() if c.count})
    if not counts:
        return "no seeds"
    if counts == [1]:
        single = [c for c in data.cells.values() if c.count == 1]
        bracket = any(c.lo is not None and c.hi is not None for c in single)
        return "one seed per cell" + ("; [lo, hi]: the recorded bootstrap interval, over test-set resampling "
                                      "only (not over trials: one trial)" if bracket else "")
    if len(counts) == 1:
        return f"mean ± std over {counts[0]} seeds"
    return f"mean ± std over {counts[0]}–{counts[-1]} seeds (the notes name cells with fewer)"


def caption(data: TableData) -> str:
    """The caption text: what, which direction, over how many seeds."""
    words: dict[str, list[str]] = {}
    for m in data.metrics:
        words.setdefault(direction_word(m), []).append(m)
    if len(words) == 1:
        how = next(iter(words))
    else:
        how = "; ".join(f"{', '.join(ms)}: {w}" for w, ms in words.items())
    return f"{', '.join(data.metrics)} on {data.setting} ({how}); {_seed_phrase(data)}."


def paired_note(data: TableData, cost: bool = False) -> str:
    """What the groups, the bold and the paired columns mean, with this table's family sizes."""
    text = ("Rows: ref = reference (source-only, oracles, floor = the metric between two halves of the held-out "
            "fold), not ranked; uncond = unconditional; labels = label-conditional (trained and sampled with target "
            "labels). Source: paper = the TGDP paper's method (paper+: run with an option added here, "
            "lagged_guidance or guidance_loss=logistic-resampled), published = a published baseline, ours = added in "
            "this benchmark.")
    if REAL_ONLY in data.variants:
        text += (" real-only = the downstream classifier trained on the n real target records alone (recorded "
                 "downstream_real_*); Δ vs real-only is the gain of training on the row's samples.")
    if not any(direction(m) for m in data.metrics):
        return text
    if not any(c.n >= 2 for c in data.best.values()):
        return text + (" One trial per cell: Δ vs X is the one difference row − X (k/N: 1 where the row is "
                       "better), with no interval; nothing is bold or marked.")
    k_best = len(data.best) - len({(m, n) for (_, m, n) in data.best})  # less the best row of each column
    text += (" Bold: the best mean of a column and every row not significantly worse than it (paired t over "
             f"trials, Holm over the {k_best} comparisons with the best in this table; α = 0.05).")
    if data.comparisons:
        text += (" Δ vs X: mean paired difference row − X over the trials both have, [95 % paired-t interval] "
                 "(scipy.stats.ttest_rel; unadjusted), k/N: trials where the row is better; * where significant "
                 f"after Holm's step-down correction over the {len(data.comparisons)} Δ comparisons of this table "
                 "(α = 0.05). The baseline is the best mean of finetune, lora and scratch in that column.")
    if cost:
        text += (" s/run: median seconds per run (fit + sample + the cached stages it reused, source model "
                 "excluded; a tuned row trains K + 1 configurations); params: median trained parameters where the "
                 "method records them (– where not recorded).")
    return text


def _notes(data: TableData) -> list[tuple[str, str]]:
    return [(letter, note) for note, letter in _note_letters(data).items()]


def to_latex(data: TableData, label: str, cost: bool = False) -> str:
    """A booktabs ``table`` float for ``\\input``, with the notes under the tabular."""
    text = _grid(data, latex=True, cost=cost)
    text.index.name = "method / $n_{\\mathrm{target}}$" if len(data.metrics) == 1 else "method"
    styler = text.style
    ncols = len(text.columns)
    body = styler.to_latex(hrules=True, caption=latex_escape(caption(data)), label=label,
                           position="htbp", position_float="centering", column_format="lll" + "r" * (ncols - 2))
    notes = _notes(data)
    extra = [data.protocol, paired_note(data, cost), transfer_scores(data).note()]
    lines = " \\\\\n".join([f"\\textsuperscript{{{a}}}~{latex_escape(n)}" for a, n in notes]
                          + [latex_escape(x) for x in extra if x])
    body = body.replace("\\end{table}", f"\\par\\smallskip\n{{\\footnotesize\\raggedright\n{lines}\\par}}\n\\end{{table}}")
    return body


def to_markdown(data: TableData, cost: bool = False) -> str:
    """A pipe table with the caption above and the notes below."""
    text = _grid(data, latex=False, cost=cost)
    text.index.name = "method / n_target" if len(data.metrics) == 1 else "method"
    lines = [caption(data), "", text.to_markdown(colalign=["left"] * 3 + ["right"] * (len(text.columns) - 2))]
    notes = _notes(data)
    if notes:
        lines += [""] + [f"<sup>{a}</sup> {n}  " for a, n in notes]
    if data.protocol:
        lines += ["", data.protocol[0].upper() + data.protocol[1:]]
    lines += ["", paired_note(data, cost)]
    transfer_note = transfer_scores(data).note()
    if transfer_note:
        lines += ["", transfer_note]
    return "\n".join(lines) + "\n"


def to_long_csv(data: TableData) -> str:
    """One row per cell: the numbers behind the displayed table."""
    ranks, transfer, bold = data.ranks(), transfer_scores(data), data.bold()
    rows = []
    for v in data.variants:
        group, source = data.row(v)
        secs, params = data.cost.get(v, (math.nan, math.nan))
        for m in data.metrics:
            for n in data.n_targets:
                c = data.cells[(v, m, n)]
                row = {"setting": data.setting, "method": v, "group": group, "source": source, "metric": m,
                       "n_target": n, "mean": c.mean, "std": c.std, "seeds": c.count, "expected_seeds": c.expected,
                       "lo": c.lo, "hi": c.hi, "direction": direction(m) or "", "rank": ranks.get((v, m, n)),
                       "bold": (v, m, n) in bold, "transfer": transfer.scores.get((v, m, n)),
                       "seconds_per_run": secs, "trainable_params": params}
                for name in REFERENCE_NAMES:
                    p = data.comparisons.get((v, name, m, n))
                    key = name.replace("-", "_")
                    row[f"{key}_row"] = data.references(m, n).get(name, "") if direction(m) else ""
                    for f in ("diff", "lo", "hi", "better", "n", "p", "p_wilcoxon", "p_holm"):
                        row[f"vs_{key}_{f}"] = getattr(p, f) if p is not None else None
                    row[f"vs_{key}_significant"] = p.significant if p is not None else None
                row["note"] = c.note
                rows.append(row)
    frame = pd.DataFrame(rows)
    frame["rank"] = frame["rank"].astype("Int64")
    return frame.to_csv(index=False, float_format="%.10g")


def write_table(data: TableData, folder: Path, stem: str) -> list[Path]:
    """Write ``stem.tex``, ``stem.md`` and ``stem.csv`` into ``folder`` (with the cost columns);
    returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    label = f"tab:{data.slug}:{stem}"
    out = []
    for suffix, text in ((".tex", to_latex(data, label, cost=True)), (".md", to_markdown(data, cost=True)),
                         (".csv", to_long_csv(data))):
        path = folder / f"{stem}{suffix}"
        atomic_write_text(path, text)
        out.append(path)
    return out
