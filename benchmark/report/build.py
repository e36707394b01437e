"""``build_report``: records -> tidy CSV, missing list, tables, figures and an index.

Layout of the report folder ``OUT`` (default ``reports/``):

    records.csv                  one row per done run x metric, with the spec columns
    missing.csv                  planned runs with no done record, each with its reason
    tables/<slug>/<metric>.{tex,md,csv}   rows: methods, columns: n_target
    tables/<slug>/main.{tex,md,csv}       the headline metrics side by side
    tables/<slug>/agreement.{md,csv}      paired verdicts on every sample metric, rank_agreement.csv
    tables/<slug>/tuning.{md,csv}         test metric under each selection rule, Δ target-val − default
    tables/ranking.{md,csv}      mean rank of each method over (setting, n_target, primary metric)
    tables/document.tex          a minimal LaTeX document that inputs every table
    tables/<rule>/...            the same tables under the rules target-val and oracle
    figures/<rule>/...           the figures that compare methods (RULE_FIGURES) under those rules
    criterion_study.{md,csv}     which select_* column orders the draws as test mmd does (dev trials)

Every table under ``tables/`` (outside ``tables/<rule>/``) reads the ``default`` rule (draw 0
trained on all n targets); ``tables/target-val/`` and ``tables/oracle/`` read the run that
rule selects (:mod:`benchmark.protocol.selection`, :mod:`benchmark.report.selected`); they,
the tuning tables and the criterion study are written only where some run is a holdout run.
Every table reads evaluation trials only (ids >= 100) where the records hold any, else the
development trials, and its note says which rule and which trials: the setting's own trials
(as README's blocks do), not the whole report's.
    figures/<figure>__<slug>.{pdf,png}    every registered figure that has data
    paper/                       with ``--paper``: the paper set (numbered figures, main tables)
    README.md                    what was generated, from which records, and when

``tables/``, ``figures/`` and ``paper/`` are rewritten from scratch on each call, so they
never mix outputs of two record sets.  The report is written into a temporary folder beside
``OUT`` and swapped in only when complete (the previous report's other entries, e.g.
``paper/`` without ``--paper``, are carried over), so an error never leaves half a report.
A run whose record or arrays are damaged is listed in ``missing.csv`` with the reason.  Everything but README's timestamp is a function of
the records (and of the plan).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import pandas as pd

from benchmark.registry import Registries
from benchmark.report.data import FigureSkipped, ReportData
from benchmark.report.agreement import agreement_metrics, write_agreement
from benchmark.report.metric_info import is_headline
from benchmark.report.ranking import primary_tables, ranking, write_ranking
from benchmark.report.runs import RunSet, collect_runs, tidy_frame_from
from benchmark.report.tables import table_data, write_table
from benchmark.report.selected import protocol_note, rule_runs, trial_scope, tuned_variants
from benchmark.protocol.selection import RULES, SELECT_PREFIX
from benchmark.errors import BenchmarkError
from benchmark.spec import RunSpec, canonical_json
from benchmark.store import atomic_write_text


#: the figures also drawn under the selection rules other than ``default`` (``figures/<rule>/``):
#: those that compare methods by the paired statistics of the tables of that rule
RULE_FIGURES = ("paired-differences",)

# tables/document.tex: every fragment in a minimal document (cd tables && pdflatex document.tex)
LATEX_PREAMBLE = "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"


@dataclass
class ReportSummary:
    """What one ``build_report`` call wrote (paths relative to the report folder)."""

    out: Path
    records: int
    plan: str
    tables: dict[str, list[str]] = field(default_factory=dict)  # setting -> table stems (default rule)
    rule_tables: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # other rule -> setting -> stems
    tuning: list[str] = field(default_factory=list)  # tables/<slug>/tuning stems
    criterion_study: list[str] = field(default_factory=list)  # files in the report folder
    trials: str = ""  # which trials the tables read
    figures: dict[str, list[str]] = field(default_factory=dict)  # figure -> files (no suffix)
    rule_figures: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # rule -> figure -> files
    skipped: dict[str, str] = field(default_factory=dict)  # figure -> reason
    paper: list[str] = field(default_factory=list)
    missing: int = 0
    fingerprint: str = ""

    def format(self) -> str:
        """One line for the CLI."""
        tables = sum(len(v) for v in self.tables.values()) + len(self.tuning)
        tables += sum(len(v) for rule in self.rule_tables.values() for v in rule.values())
        figures = sum(len(v) for v in self.figures.values())
        figures += sum(len(v) for rule in self.rule_figures.values() for v in rule.values())
        text = f"report written to {self.out}/: {tables} tables, {figures} figures"
        if self.skipped:
            text += f" ({len(self.skipped)} not drawn for lack of data, see README.md)"
        if self.paper:
            text += f", paper set in {self.out / 'paper'}/"
        if self.missing:
            text += f"; {self.missing} expected runs have no done record (missing.csv)"
        return text


def records_fingerprint(runs: RunSet) -> str:
    """SHA-256 prefix of the used records' ids and metrics: equal fingerprints, equal report."""
    items = sorted((rid, rec.get("metrics", {})) for rid, rec in runs.records.items())
    return hashlib.sha256(canonical_json(items).encode()).hexdigest()[:16]


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def setting_notes(runs: RunSet, rule: str, scope: Any) -> dict[str, str]:
    """``{setting: note}``: the selection rule's note (:func:`protocol_note`) of each setting, naming
    that setting's own trials (within ``scope``, the trials the report's tables read)."""
    out = {}
    for setting in sorted(runs.frame.setting.unique()):
        frame = runs.frame[(runs.frame.setting == setting) & runs.frame.trial.isin(scope.trials)]
        own = RunSet(frame if len(frame) else runs.frame[runs.frame.setting == setting], runs.records, runs.plan)
        out[setting] = protocol_note(own, rule, trial_scope(own))
    return out


def _setting_scopes(runs: RunSet, scope: Any) -> dict[str, str]:
    """``{setting: the note of its own trials}`` within ``scope``."""
    out = {}
    for setting in sorted(runs.frame.setting.unique()):
        frame = runs.frame[(runs.frame.setting == setting) & runs.frame.trial.isin(scope.trials)]
        out[setting] = trial_scope(RunSet(frame, runs.records, runs.plan)).note()
    return out


def _joined(notes: Mapping[str, str]) -> str:
    """One note for a table over several settings: the common note, else each setting's."""
    texts = list(dict.fromkeys(n for n in notes.values() if n))
    if len(texts) <= 1:
        return texts[0] if texts else ""
    by_note: dict[str, list[str]] = {}
    for setting, note in notes.items():
        if note:
            by_note.setdefault(note, []).append(setting)
    return "by setting: " + " ".join(f"{', '.join(settings)}: {note}" for note, settings in by_note.items())


def write_tables(runs: RunSet, tidy: pd.DataFrame, folder: Path, methods: Any = None,
                 protocol: Union[str, Mapping[str, str]] = "") -> dict[str, list[str]]:
    """One table per (setting, metric) and a main table of the headline metrics per setting
    (``methods``: the method registry, for each row's group and source; ``protocol``: the
    selection rule's note every table carries, or ``{setting: note}``, :func:`setting_notes`).
    The ``select_*`` metrics (what selection reads, not test metrics) get no table."""
    tidy = tidy[~tidy.metric.str.startswith(SELECT_PREFIX)]
    notes = protocol if not isinstance(protocol, str) else {s: protocol for s in sorted(tidy.setting.unique())}
    written: dict[str, list[str]] = {}
    for setting in sorted(tidy.setting.unique()):
        protocol = notes.get(setting, "")
        metrics = sorted(tidy[tidy.setting == setting].metric.unique())
        data = None
        for metric in metrics:
            data = table_data(runs, tidy, setting, [metric], methods, protocol)
            write_table(data, folder / data.slug, metric)
            written.setdefault(setting, []).append(f"{data.slug}/{metric}")
        headline = [m for m in metrics if is_headline(m)]
        if headline and data is not None:
            main = table_data(runs, tidy, setting, headline, methods, protocol)
            write_table(main, folder / main.slug, "main")
            written[setting].insert(0, f"{main.slug}/main")
        task = str(runs.frame.task[runs.frame.setting == setting].iloc[0])
        sample = agreement_metrics(task, metrics)
        if sample and data is not None:
            write_agreement(table_data(runs, tidy, setting, sample, methods, protocol), folder / data.slug)
    tables = primary_tables(runs, tidy, methods)
    if tables:
        rk = ranking(tables)
        rk.protocol = _joined({t.setting: notes.get(t.setting, "") for t in tables})
        write_ranking(rk, folder)
    inputs = "".join(f"\\input{{{stem}}}\n\\clearpage\n" for stems in written.values() for stem in stems)
    atomic_write_text(folder / "document.tex", f"{LATEX_PREAMBLE}{inputs}\\end{{document}}\n")
    return written


def render_figures(data: ReportData, regs: Registries, folder: Path,
                   names: Sequence[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Render the named figures into ``folder``; returns (written stems, skipped reasons)."""
    from benchmark.report.style import figure_style, save_figure

    written: dict[str, list[str]] = {}
    skipped: dict[str, str] = {}
    for name in names:
        fn = regs.figures.get(name)
        with figure_style():
            try:
                figs = fn(data)
            except FigureSkipped as exc:
                skipped[name] = str(exc)
                continue
            for variant in sorted(figs):
                stem = name + (f"__{variant}" if variant else "")
                save_figure(figs[variant], folder, stem)
                written.setdefault(name, []).append(stem)
    return written, skipped


def write_paper_set(summary: ReportSummary, folder: Path) -> list[str]:
    """Copy the paper figures (numbered in PAPER_FIGURES order) and the main tables into ``folder``."""
    from benchmark.report.figures import PAPER_FIGURES

    items = []
    for k, name in enumerate(PAPER_FIGURES, start=1):
        for stem in summary.figures.get(name, []):
            for suffix in (".pdf", ".png"):
                shutil.copyfile(summary.out / "figures" / f"{stem}{suffix}", folder / f"fig{k:02d}-{stem}{suffix}")
            items.append(f"fig{k:02d}-{stem}")
    for stems in summary.tables.values():
        if stems and stems[0].endswith("/main"):
            slug = stems[0].split("/")[0]
            for suffix in (".tex", ".md", ".csv"):
                shutil.copyfile(summary.out / "tables" / f"{stems[0]}{suffix}", folder / f"table-{slug}{suffix}")
            items.append(f"table-{slug}")
    return items


def build_report(results: Path, out: Path, regs: Registries, planned: Optional[Sequence[RunSpec]] = None,
                 paper: bool = False) -> ReportSummary:
    """Write the report folder (see the module docstring) from the records in ``results``.

    Args:
        results: the results folder (``<results>/runs/<run_id>/``).
        out: the report folder.
        regs: the registries (tasks for closed forms and defaults, figures).
        planned: the planned runs (``run --all``, ``report --suite``); without it the grid
            is inferred from the records.
        paper: also write the paper set into ``out/paper/``.
    """
    results, out = Path(results), Path(out)
    if out.exists() and not out.is_dir():
        raise BenchmarkError(f"--out {out} is a file, not a folder; pass a folder for the report (--out DIR)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchmarkError(f"cannot create the report folder {out} ({exc.strerror or exc}); pass --out DIR") from None
    remove_stale_builds(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{_host()}-{os.getpid()}-", dir=out.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        summary = _build_into(tmp, results, regs, planned, paper)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary.out = out
    return summary


def _host() -> str:
    import socket

    return "".join(c for c in socket.gethostname() if c.isalnum() or c == "-")[:40] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, owned by another user
        return True
    return True


def remove_stale_builds(out: Path) -> list[Path]:
    """Remove the half-built ``.<out>.tmp-<host>-<pid>-*`` folders beside ``out`` whose report
    process (on this host) is gone (killed by SIGKILL, say); a build of a live process, or of
    another host sharing the folder, is left alone.  Returns what was removed."""
    removed = []
    prefix = f".{out.name}.tmp-{_host()}-"
    for path in out.parent.glob(f".{glob.escape(out.name)}.tmp-*"):
        pid = path.name[len(prefix):].split("-", 1)[0] if path.name.startswith(prefix) else ""
        if pid.isdigit() and not _pid_alive(int(pid)) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _umask() -> int:
    from benchmark.store import current_umask

    return current_umask()


def _swap_in(new: Path, out: Path) -> None:
    """Make the complete report folder ``new`` the report folder ``out``; entries of the old
    report that this call did not write (``paper/`` without ``--paper``, files of the user)
    move along, and the old generated ones are removed only after the swap."""
    if not out.is_dir():
        os.replace(new, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}-{id(new)}")
    os.replace(out, old)
    os.replace(new, out)
    for entry in old.iterdir():  # old entries this report did not write stay (they are never deleted)
        if not (out / entry.name).exists():
            os.replace(entry, out / entry.name)
    shutil.rmtree(old, ignore_errors=True)


def _build_into(out: Path, results: Path, regs: Registries, planned: Optional[Sequence[RunSpec]],
                paper: bool) -> ReportSummary:
    from benchmark.report.readme import write_readme

    runs = collect_runs(results, regs, planned)
    tidy = tidy_frame_from(runs)
    summary = ReportSummary(out=out, records=len(runs.records), plan=runs.plan, fingerprint=records_fingerprint(runs))
    atomic_write_text(out / "records.csv", tidy.to_csv(index=False, float_format="%.10g"))
    missing = runs.missing()
    summary.missing = len(missing)
    atomic_write_text(out / "missing.csv", missing.to_csv(index=False))
    from benchmark.report.criterion_study import write_criterion_study
    from benchmark.report.tuning import write_tuning

    scope = trial_scope(runs)
    summary.trials = scope.note()
    per_setting = _setting_scopes(runs, scope)
    if len(set(per_setting.values())) > 1:  # settings with other trials: each its own
        summary.trials += "; by setting: " + "; ".join(f"{s}: {n}" for s, n in per_setting.items())
    tuned = tuned_variants(runs)
    tables = _fresh(out / "tables")
    per_rule, notes = {}, {}
    for rule in RULES if tuned else ("default",):
        selected = rule_runs(runs, rule, scope)
        per_rule[rule] = (selected, tidy_frame_from(selected))
        notes[rule] = setting_notes(runs, rule, scope)
        written = write_tables(*per_rule[rule], tables if rule == "default" else tables / rule, regs.methods,
                               notes[rule])
        if rule == "default":
            summary.tables = written
        else:
            summary.rule_tables[rule] = written
    if tuned:
        summary.tuning = write_tuning(per_rule, tuned, tables, regs.methods, notes)
    summary.criterion_study = write_criterion_study(runs, out) or []
    data = ReportData(results=results, runs=per_rule["default"][0], tidy=per_rule["default"][1], regs=regs)
    figures = _fresh(out / "figures")
    summary.figures, summary.skipped = render_figures(data, regs, figures, regs.figures.names())
    for rule in per_rule:
        if rule != "default":
            rule_data = ReportData(results=results, runs=per_rule[rule][0], tidy=per_rule[rule][1], regs=regs,
                                   rule=rule)
            names = [n for n in RULE_FIGURES if n in regs.figures.names()]
            written, _ = render_figures(rule_data, regs, figures / rule, names)
            summary.rule_figures[rule] = written
    if paper:
        summary.paper = write_paper_set(summary, _fresh(out / "paper"))
    write_readme(summary, runs, results, regs)
    return summary

