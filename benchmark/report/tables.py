"""Result tables: rows are method variants, columns are n_target (per metric).

Each cell is the mean ± sample std (ddof = 1) over the trials (seeds) of that cell, the
mean with 3 significant digits and the std to the same decimal place (a common power of
ten outside [1e-3, 1e4)).  A cell with one trial shows the mean alone, followed by the
recorded bootstrap interval ``[lo, hi]`` when the metric has ``_lo``/``_hi`` keys.  In
every column the best mean is bold and the second best underlined, in the metric's
direction (``metric_info.direction``), comparing the means as displayed, so cells that
look equal share a rank.  Reference methods (oracles) and metrics without a direction are
never ranked.  A cell with no value shows "–" and a note letter; a cell with fewer trials
than expected carries a note letter too.  Notes are lettered in row-major order.

Beside each value, ``(T x)`` is the normalised transfer score of the cell,
T = (M_source-only - M) / (M_source-only - M_target-oracle) on seed means of the same column
(:mod:`benchmark.report.transfer`; 0 = source-only, 1 = target-oracle); a note under the
table defines it and says why a column has "T –".

Each table is written three ways, beside each other: ``.tex`` (pandas ``Styler.to_latex``
with booktabs rules, a table float ready for ``\\input``), ``.md`` (``DataFrame.to_markdown``)
and ``.csv`` (the numbers in long form: one row per cell with mean, std, seeds, lo, hi,
rank and note).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from benchmark.report.metric_info import direction, direction_word, is_reference_method
from benchmark.report.numbers import _layout, displayed
from benchmark.report.runs import RunSet, method_order
from benchmark.report.transfer import format_transfer, transfer_scores
from benchmark.store import DONE, atomic_write_text

DASH = "–"
LATEX_DASH = "--"
NOTE_MESSAGE_CHARS = 70


@dataclass(frozen=True)
class Cell:
    """The statistics of one (variant, metric, n_target) cell over its done trials."""

    values: tuple[float, ...]
    expected: int  # trials planned (or seen in the grid) for this cell
    lo: Optional[float] = None  # mean bootstrap lower bound over trials, if recorded
    hi: Optional[float] = None
    note: str = ""  # why the cell is empty or partial

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

    def ranks(self) -> dict[tuple[str, str, int], int]:
        """Dense rank (1 = best) of each ranked cell within its (metric, n_target) column."""
        out: dict[tuple[str, str, int], int] = {}
        for metric in self.metrics:
            d = direction(metric)
            if d is None:
                continue
            for n in self.n_targets:
                keyed = {(v, metric, n): displayed(self.cells[(v, metric, n)].mean) for v in self.variants
                         if not is_reference_method(v) and math.isfinite(self.cells[(v, metric, n)].mean)}
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


def table_data(runs: RunSet, tidy: pd.DataFrame, setting: str, metrics: Sequence[str]) -> TableData:
    """Collect the cells of ``setting`` for ``metrics`` (see the module docstring for rows)."""
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
    variants = method_order([v for v in frame.variant.unique() if v in has_metric or (v in no_done and universal)])
    data = TableData(setting, str(frame.slug.iloc[0]) if len(frame) else setting, metrics, variants, n_targets)
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
                data.cells[(v, m, n)] = Cell(tuple(float(x) for x in vm.value), len(runs_vn), lo, hi, note)
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
    table = {"±": r"$\pm$", "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
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


def _columns(data: TableData, latex: bool) -> pd.Index:
    corner = "method / $n_{\\mathrm{target}}$" if latex else "method / n_target"
    if len(data.metrics) == 1:
        return pd.Index([str(n) for n in data.n_targets], name=corner)
    top = [latex_escape(m) if latex else m for m in data.metrics]
    tuples = [(t, str(n)) for t in top for n in data.n_targets]
    return pd.MultiIndex.from_tuples(tuples, names=["", corner])


def _grid(data: TableData, latex: bool) -> pd.DataFrame:
    """The displayed strings: value (bold / underlined by rank), transfer score, note letter."""
    ranks, letters, transfer = data.ranks(), _note_letters(data), transfer_scores(data)
    text = []
    for v in data.variants:
        trow = []
        for m in data.metrics:
            for n in data.n_targets:
                cell = data.cells[(v, m, n)]
                s = _cell_text(cell, latex)
                rank = ranks.get((v, m, n))
                if rank in (1, 2):  # the value only, not its transfer score
                    if latex:
                        s = f"\\textbf{{{s}}}" if rank == 1 else f"\\underline{{{s}}}"
                    else:
                        s = f"**{s}**" if rank == 1 else f"<ins>{s}</ins>"
                if cell.count and transfer.shown(m):
                    t = format_transfer(transfer.scores.get((v, m, n)))
                    s += f" ({t.replace(DASH, LATEX_DASH) if latex else t})"
                if cell.note:
                    s += f"\\textsuperscript{{{letters[cell.note]}}}" if latex else f"<sup>{letters[cell.note]}</sup>"
                trow.append(s)
        text.append(trow)
    index = pd.Index([latex_escape(v) if latex else v for v in data.variants])
    cols = _columns(data, latex)
    return pd.DataFrame(text, index=index, columns=cols)


def _seed_phrase(data: TableData) -> str:
    counts = sorted({c.count for c in data.cells.values() if c.count})
    if not counts:
        return "no seeds"
    if counts == [1]:
        single = [c for c in data.cells.values() if c.count == 1]
        bracket = any(c.lo is not None and c.hi is not None for c in single)
        return "one seed per cell" + ("; [lo, hi]: the recorded bootstrap interval" if bracket else "")
    if len(counts) == 1:
        return f"mean ± std over {counts[0]} seeds"
    return f"mean ± std over {counts[0]}–{counts[-1]} seeds (the notes name cells with fewer)"


def caption(data: TableData) -> str:
    """The caption text: what, which direction, over how many seeds, what the marks mean."""
    words: dict[str, list[str]] = {}
    for m in data.metrics:
        words.setdefault(direction_word(m), []).append(m)
    if len(words) == 1:
        how = next(iter(words))
    else:
        how = "; ".join(f"{', '.join(ms)}: {w}" for w, ms in words.items())
    text = f"{', '.join(data.metrics)} on {data.setting} ({how}); {_seed_phrase(data)}."
    if any(direction(m) for m in data.metrics):
        text += " Best in bold, second underlined"
        if any(is_reference_method(v) for v in data.variants):
            text += "; oracle rows are reference bounds and are not ranked"
        text += "."
    return text


def _notes(data: TableData) -> list[tuple[str, str]]:
    return [(letter, note) for note, letter in _note_letters(data).items()]


def to_latex(data: TableData, label: str) -> str:
    """A booktabs ``table`` float for ``\\input``, with the notes under the tabular."""
    text = _grid(data, latex=True)
    styler = text.style
    ncols = len(text.columns)
    body = styler.to_latex(hrules=True, caption=latex_escape(caption(data)), label=label,
                           position="htbp", position_float="centering", column_format="l" + "r" * ncols,
                           multicol_align="c")
    if len(data.metrics) > 1:  # rules under each metric's group
        k = len(data.n_targets)
        rules = "".join(f"\\cmidrule(lr){{{2 + i * k}-{1 + (i + 1) * k}}}" for i in range(len(data.metrics)))
        first, rest = body.split("\\toprule\n", 1)
        head, tail = rest.split("\n", 1)
        body = f"{first}\\toprule\n{head}\n{rules}\n{tail}"
    notes = _notes(data)
    transfer_note = transfer_scores(data).note()
    if notes or transfer_note:
        lines = " \\\\\n".join([f"\\textsuperscript{{{a}}}~{latex_escape(n)}" for a, n in notes]
                              + ([latex_escape(transfer_note)] if transfer_note else []))
        body = body.replace("\\end{table}",
                            f"\\par\\smallskip\n{{\\footnotesize\\raggedright\n{lines}\\par}}\n\\end{{table}}")
    return body


def to_markdown(data: TableData) -> str:
    """A pipe table with the caption above and the notes below."""
    text = _grid(data, latex=False)
    if isinstance(text.columns, pd.MultiIndex):
        text.columns = [f"{m} n={n}" for m, n in text.columns]
        text.index.name = "method"
    else:
        text.index.name = "method / n_target"
        text.columns = [f"{c}" for c in text.columns]
    lines = [caption(data).replace("Best in bold, second underlined", "Best in **bold**, second <ins>underlined</ins>"),
             "", text.to_markdown(colalign=["left"] + ["right"] * len(text.columns))]
    notes = _notes(data)
    if notes:
        lines += [""] + [f"<sup>{a}</sup> {n}  " for a, n in notes]
    transfer_note = transfer_scores(data).note()
    if transfer_note:
        lines += ["", transfer_note]
    return "\n".join(lines) + "\n"


def to_long_csv(data: TableData) -> str:
    """One row per cell: the numbers behind the displayed table."""
    ranks, transfer = data.ranks(), transfer_scores(data)
    rows = []
    for v in data.variants:
        for m in data.metrics:
            for n in data.n_targets:
                c = data.cells[(v, m, n)]
                rows.append({"setting": data.setting, "method": v, "metric": m, "n_target": n, "mean": c.mean,
                             "std": c.std, "seeds": c.count, "expected_seeds": c.expected, "lo": c.lo, "hi": c.hi,
                             "direction": direction(m) or "", "rank": ranks.get((v, m, n)),
                             "transfer": transfer.scores.get((v, m, n)), "note": c.note})
    frame = pd.DataFrame(rows)
    frame["rank"] = frame["rank"].astype("Int64")
    return frame.to_csv(index=False, float_format="%.10g")


def write_table(data: TableData, folder: Path, stem: str) -> list[Path]:
    """Write ``stem.tex``, ``stem.md`` and ``stem.csv`` into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    label = f"tab:{data.slug}:{stem}"
    out = []
    for suffix, text in ((".tex", to_latex(data, label)), (".md", to_markdown(data)), (".csv", to_long_csv(data))):
        path = folder / f"{stem}{suffix}"
        atomic_write_text(path, text)
        out.append(path)
    return out
