"""Reference results: the README's tables, regenerated from records by one command.

    python -m benchmark run --all                      # the quick suite (records in results/)
    python -m benchmark reference --results results    # -> results/reference/quick.jsonl + README blocks

``results/reference/<suite>.jsonl`` is the committed, compact copy of a suite's done
records (one JSON line per run: run id, spec, metrics, the code commit and the thread
count it ran with, and its timings).  README.md shows tables between ``<!-- results:<slug>:begin -->`` and
``<!-- results:<slug>:end -->`` markers; each block is :func:`render_block` of the
reference, made by the same table code as ``reports/tables/`` (``to_markdown``).
``tests/test_readme_results.py`` fails when a block differs from what the reference
renders to, or when the reference no longer holds the runs the suite plans (a changed
suite must be run again before its numbers can be shown).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from benchmark.errors import BenchmarkError
from benchmark.registry import Registries
from benchmark.spec import RunSpec, Suite
from benchmark.store import DONE, RunStore, atomic_write_text

#: README's table for each task (one block per setting, named by its slug): the metrics shown.
#: Every row is shown; ``reports/tables/`` has every metric and the cost columns.
README_TABLES: Mapping[str, tuple[str, ...]] = {
    "gmm2d": ("mmd",),
    "gmm-overlap": ("mmd",),
    "ecg-synth": ("downstream_auc",),
}
BLOCK = re.compile(r"(<!-- results:(?P<slug>[\w.=,:-]+):begin -->\n)(?P<body>.*?)(<!-- results:(?P=slug):end -->)", re.S)
#: the suite whose blocks carry plain slugs; another suite's blocks are named ``<suite>:<slug>``
README_SUITE = "quick"


def block_suite(slug: str) -> str:
    """The suite whose reference renders the block ``slug`` (``<suite>:...`` or README's suite)."""
    return slug.split(":", 1)[0] if ":" in slug else README_SUITE


@dataclass(frozen=True)
class Reference:
    """The compact records of one suite (``results/reference/<suite>.jsonl``)."""

    suite: str
    records: tuple[dict[str, Any], ...]

    @property
    def run_ids(self) -> set[str]:
        return {r["run_id"] for r in self.records}


def export_reference(results: Path, specs: Sequence[RunSpec], path: Path) -> Reference:
    """Write the done records of ``specs`` found in ``results`` as ``path`` (JSON lines).

    Raises:
        BenchmarkError: when a planned run has no done record (run the suite first).
    """
    store = RunStore(Path(results))
    rows, missing = [], []
    for spec in sorted(specs, key=lambda s: s.run_id):
        state = store.state(spec.run_id)
        if state.status != DONE or state.record is None:
            missing.append(spec)
            continue
        rec = state.record
        env = rec.get("environment", {})
        cpu = f"{env['cpu_model']} ({env.get('cpu_capability', '?')})" if env.get("cpu_model") else None
        rows.append({"run_id": spec.run_id, "spec": rec["spec"], "metrics": rec["metrics"],
                     "timings": rec.get("timings"), "cost": rec.get("cost"), "git_commit": env.get("git_commit"),
                     "torch_threads": env.get("torch_threads"), "cpu": cpu})
    if missing:
        raise BenchmarkError(f"{len(missing)} of {len(specs)} planned runs have no done record in {results} "
                             f"(e.g. {missing[0].label()}); run `python -m benchmark run --suite "
                             f"{specs[0].suite} --results {results}` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return Reference(specs[0].suite if specs else "", tuple(rows))


def load_reference(path: Path) -> Reference:
    try:
        rows = tuple(json.loads(line) for line in Path(path).read_text().splitlines() if line.strip())
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"cannot read the reference {path} ({exc}); regenerate it with "
                             "`python -m benchmark reference`") from None
    try:
        suite = rows[0]["spec"]["suite"] if rows else ""
        for r in rows:
            RunSpec.from_dict(r["spec"]), r["metrics"]  # noqa: B018 (what the tables read)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise BenchmarkError(f"the reference {path} is not a reference file (a line lacks {exc}); regenerate it "
                             "with `python -m benchmark reference`") from None
    return Reference(suite, rows)


def _materialise(ref: Reference, folder: Path) -> None:
    """A results folder holding the reference's records (what the table code reads)."""
    from benchmark import SCHEMA_VERSION

    store = RunStore(folder)
    for r in ref.records:
        rid = RunSpec.from_dict(r["spec"]).run_id  # the folder a record counts in (RunStore.state checks it)
        store.folder(rid).mkdir(parents=True, exist_ok=True)
        store.write_spec(rid, r["spec"])
        store.write_record(rid, {"schema_version": SCHEMA_VERSION, "run_id": rid, "status": DONE,
                                 "spec": r["spec"], "metrics": r["metrics"], "timings": r.get("timings"),
                                 "cost": r.get("cost")})


def joined_references(suite: Suite, folder: Path) -> tuple[Reference, ...]:
    """The references of the suites ``suite`` reads with (``Suite.reads_with``), from ``folder``:
    its blocks hold their rows too, and a ``<suite>:summary`` block (:mod:`benchmark.report.summary`)."""
    return tuple(load_reference(Path(folder) / f"{other}.jsonl") for other in suite.reads_with)


def _provenance(ref: Reference, rows: Iterable[dict[str, Any]], joined: Sequence[Reference] = ()) -> str:
    rows = list(rows)
    commits = sorted({str(r.get("git_commit"))[:7] for r in rows if r.get("git_commit")})
    threads = sorted({r.get("torch_threads") for r in rows if r.get("torch_threads") is not None})
    cpus = sorted({r["cpu"] for r in rows if r.get("cpu")})
    suites = [ref.suite] + [j.suite for j in joined]
    runs = [("`python -m benchmark run --all`" if s == README_SUITE else f"`python -m benchmark run --suite {s}`")
            for s in [*[j.suite for j in joined], ref.suite]]  # the suites read with first: they are run first
    command = runs[0] + "".join(f" and {r} into its folder" for r in runs[1:])
    return (f"From {command} then `python -m benchmark reference` "
            f"(suite {' + '.join(suites)}, {len(rows)} runs, {'/'.join(map(str, threads)) or '?'} torch thread(s) "
            f"per run, code of commit {', '.join(commits) or 'unknown'}, CPU {'; '.join(cpus) or 'not recorded'}; "
            f"{', '.join(f'`results/reference/{s}.jsonl`' for s in suites)}).")


#: the selection rule of README's main tables (DESIGN.md §8): the one a user of the suite can apply
README_RULE = "target-val"


def render_blocks(ref: Reference, regs: Registries, joined: Sequence[Reference] = ()) -> dict[str, str]:
    """slug -> the Markdown of a ``results:<slug>`` block (provenance line + table).

    ``joined``: other suites' references read together with ``ref`` (:func:`joined_references`); the
    tables then hold both suites' rows, and ``summary`` is the cross-setting view
    (:mod:`benchmark.report.summary`) of the README metrics.

    ``<slug>``: the setting's README metrics under :data:`README_RULE`, on the trials the report's
    tables read (evaluation trials where the records have them); ``<slug>.tuning``: the tuning
    table of the setting (test metric under default, target-val and oracle selection, paired
    differences), where it has tuned rows.  README shows the first, docs/protocol.md the second.
    """
    from benchmark.protocol.selection import RULES
    from benchmark.report.agreement import agreement, agreement_metrics
    from benchmark.report.runs import RunSet, collect_runs, tidy_frame_from
    from benchmark.report.selected import protocol_note, rule_runs, trial_scope, tuned_variants
    from benchmark.report.tables import table_data, to_markdown
    from benchmark.report.tuning import to_markdown as tuning_markdown
    from benchmark.report.tuning import tuning_frame

    every = Reference(ref.suite, ref.records + tuple(r for j in joined for r in j.records))
    with tempfile.TemporaryDirectory(prefix="tldm-reference-") as tmp:
        _materialise(every, Path(tmp))
        runs = collect_runs(Path(tmp), regs)
    scope = trial_scope(runs)
    per_rule = {}
    for rule in RULES:
        selected = rule_runs(runs, rule, scope)
        per_rule[rule] = (selected, tidy_frame_from(selected))
    tuned = tuned_variants(runs)
    shown, tidy = per_rule[README_RULE]
    out: dict[str, str] = {}
    if (runs.frame.holdout > 0).any():  # the study reads development trials only (none: no block)
        from benchmark.report.criterion_study import aggregate, group_frame
        from benchmark.report.criterion_study import to_markdown as study_markdown

        groups = group_frame(runs)
        if len(groups):
            body = study_markdown(aggregate(groups), groups).split("\n", 2)[2]  # without its page title
            out["criterion-study"] = _provenance(ref, every.records, joined) + "\n\n" + body
    done = runs.done()
    summary = []
    for setting in sorted(done.setting.unique()):
        first = done[done.setting == setting].iloc[0]
        slug = first.slug
        wanted = README_TABLES.get(first.task, ())
        metrics = [m for m in wanted if m in set(tidy[tidy.setting == setting].metric)]
        if not metrics:
            continue
        ids = set(done[done.setting == setting].run_id)
        rows = [r for r in every.records if RunSpec.from_dict(r["spec"]).run_id in ids]  # ids of today's scheme
        own = RunSet(runs.frame[runs.frame.setting == setting], runs.records, runs.plan)  # its own trials in the note
        table = table_data(shown, tidy, setting, metrics, regs.methods,
                           protocol_note(own, README_RULE, trial_scope(own)))
        if joined:  # the summary's rows: the table, and its verdicts on every sample metric
            sample = agreement_metrics(first.task, sorted(set(tidy[tidy.setting == setting].metric)))
            verdicts = (agreement(table_data(shown, tidy, setting, sample, regs.methods, table.protocol))
                        if len(sample) > 1 else None)
            order = list(README_TABLES).index(first.task) if first.task in README_TABLES else len(README_TABLES)
            summary.append((order, setting, table, verdicts))
        note = ("Every metric, the cost of each row and the `default` and `oracle` rules are in "
                "`reports/tables/` after a run.")
        out[slug] = _provenance(ref, rows, joined) + " " + note + "\n\n" + to_markdown(table)
        variants = {v for s, v in tuned if s == setting}
        if variants:
            frame, metric, data = tuning_frame(per_rule, setting, variants, regs.methods)
            if metric:
                own_notes = {rule: protocol_note(own, rule, trial_scope(own)) for rule in RULES}
                out[f"{slug}.tuning"] = _provenance(ref, rows, joined) + "\n\n" + tuning_markdown(
                    frame, setting, metric, data, own_notes)
    if summary:  # README_TABLES' task order
        from benchmark.report.summary import to_markdown as summary_markdown

        summary.sort(key=lambda item: item[:2])
        tables = [table for _, _, table, _ in summary]
        metrics = list(dict.fromkeys(m for d in tables for m in d.metrics))
        title = f"{', '.join(metrics)} by setting and n_target, every row, selection {README_RULE}."
        verdicts = [v for _, _, _, v in summary if v is not None]
        out["summary"] = _provenance(ref, every.records, joined) + "\n\n" + summary_markdown(tables, title, verdicts)
    if ref.suite != README_SUITE:
        out = {f"{ref.suite}:{slug}": text for slug, text in out.items()}
    return out


def update_readme(readme: Path, blocks: Mapping[str, str], check: bool = False,
                  suite: str = README_SUITE) -> list[str]:
    """Replace every ``results:<slug>`` block of ``readme`` by ``blocks[slug]``.

    Returns the slugs whose text changed (with ``check``, nothing is written).  A block of
    ``suite`` with no rendering is an error: its numbers would come from nowhere.  Blocks of
    another suite (``<other>:<slug>``, :func:`block_suite`) are left to that suite's reference.
    """
    text = Path(readme).read_text()
    changed: list[str] = []

    def swap(m: re.Match) -> str:
        slug = m.group("slug")
        if block_suite(slug) != suite:  # another suite's block: its own reference renders it
            return m.group(0)
        if slug not in blocks:
            raise BenchmarkError(f"{readme} has a results:{slug} block but the reference holds no table for it; "
                                 f"remove the block or add {slug} to the reference suite")
        if m.group("body") != blocks[slug]:
            changed.append(slug)
        return m.group(1) + blocks[slug] + m.group(4)

    new = BLOCK.sub(swap, text)
    if changed and not check:
        atomic_write_text(Path(readme), new)
    return changed
