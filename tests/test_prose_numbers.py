"""The hand-written prose numbers about the committed references are recomputed by the report's own
code and compared at the precision the page prints them (the tables between ``results:`` markers are
rendered and checked by tests/test_readme_results.py; this file checks the sentences around them):

* README.md, "## What the comparison shows" (the bullets and the paragraph after them);
* docs/recent-methods.md, "## What the rows show";
* docs/protocol.md, its prose outside the ``results:`` blocks.

The records: ``results/reference/quick.jsonl`` (suite quick), ``recent.jsonl`` read together with it
(its rows pair with quick's by trial), ``protocol-dev.jsonl`` (development trials, the criterion
study).  Each is materialised once per module (:func:`benchmark.report.reference._materialise`) and
read as ``python -m benchmark reference`` reads it: :func:`benchmark.report.runs.collect_runs`,
:func:`benchmark.report.selected.rule_runs` on :func:`trial_scope`, :func:`table_data` with the README
metrics (the Holm family of the tables) or with the agreement metrics, ``TableData._pair`` for a paired
difference (mean, 95 % paired-t interval, trials better, N) and ``TableData.comparisons`` for the
Holm-corrected marks.

Not checked, because no record holds them: design constants (2,048 draws, 1,000 samples, K = 16 and
10 trials of ``extended``, the task descriptions), wall times (23 min 39 s, 24 min 44 s, 48 min,
25 and 28 minutes) and the CPU-hour figures of ``scripts/suite_estimate.py`` (44,731 runs, 43 CPU
hours, 0.7 and 0.78 for quick: the reference drops the source-build profiles they include, and
planning ``extended`` takes seconds).  The run counts (683, 750) are the reference line counts.
"""

from __future__ import annotations

import functools
import math
import re
import tempfile
from pathlib import Path

import pytest
from conftest import REPO_ROOT

REFERENCE_DIR = REPO_ROOT / "results" / "reference"
README = REPO_ROOT / "README.md"
RECENT_DOC = REPO_ROOT / "docs" / "recent-methods.md"
PROTOCOL_DOC = REPO_ROOT / "docs" / "protocol.md"
NS = (10, 100, 1000)
RECENT = ("deft", "difffit", "dogfit", "domain-cfg", "tiw-dsm", "x0-guidance")


# -- the records, read once -----------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _regs():
    from benchmark.registry import load_registries

    return load_registries()


@functools.lru_cache(maxsize=None)
def _reference(suite: str):
    from benchmark.report.reference import load_reference

    return load_reference(REFERENCE_DIR / f"{suite}.jsonl")


@functools.lru_cache(maxsize=None)
def _runs(which: str):
    """"every": quick and recent read together (as the summary and docs/recent-methods.md read them);
    "quick": its quick runs only (README's gmm2d table and docs/protocol.md's tables); "protocol-dev"."""
    from benchmark.report.reference import Reference, _materialise
    from benchmark.report.runs import RunSet, collect_runs

    if which == "quick":  # the quick runs of the joined folder: the same rows as quick alone, read once
        every = _runs("every")
        ids = _reference("quick").run_ids
        return RunSet(every.frame[every.frame.run_id.isin(ids)].reset_index(drop=True), every.records, every.plan)
    records = (_reference("quick").records + _reference("recent").records if which == "every"
               else _reference(which).records)
    with tempfile.TemporaryDirectory(prefix="tldm-prose-") as tmp:
        _materialise(Reference(which, records), Path(tmp))
        return collect_runs(Path(tmp), _regs())


@functools.lru_cache(maxsize=None)
def _selected(which: str, rule: str):
    from benchmark.report.runs import tidy_frame_from
    from benchmark.report.selected import rule_runs, trial_scope

    runs = _runs(which)
    sel = rule_runs(runs, rule, trial_scope(runs))
    return sel, tidy_frame_from(sel)


@functools.lru_cache(maxsize=None)
def _table(setting: str, which: str = "every", rule: str = "target-val", metrics: tuple[str, ...] = ()):
    """The table of ``setting``; metrics default to the README's (its Holm family, its marks)."""
    from benchmark.report.reference import README_TABLES
    from benchmark.report.tables import table_data

    sel, tidy = _selected(which, rule)
    return table_data(sel, tidy, setting, list(metrics or README_TABLES[setting]), _regs().methods)


def _pair(a: str, b: str, n: int, setting: str = "gmm2d", metric: str = "mmd", which: str = "every"):
    """Paired(diff = mean(a − b), lo, hi, better = trials where a is better, n, p) of one column."""
    return _table(setting, which, metrics=(metric,))._pair(a, b, metric, n)


def _mean(v: str, n: int, setting: str = "gmm2d", metric: str = "mmd", which: str = "every", rule: str = "target-val"):
    return _table(setting, which, rule, (metric,)).cells[(v, metric, n)].mean


def _pd(a: str, b: str, n: int, **kw) -> tuple[float, float, float, int, int]:
    """A printed "Δ [lo, hi] k/N": (diff, lo, hi, better, N)."""
    c = _pair(a, b, n, **kw)
    return c.diff, c.lo, c.hi, c.better, c.n


def _same(*xs):
    """One printed number that stands for several recomputed ones ("5/5 at both"): their common
    value, nan (fails every comparison) where they differ."""
    return xs[0] if len(set(xs)) == 1 else math.nan


@functools.lru_cache(maxsize=None)
def _criterion():
    from benchmark.report.criterion_study import aggregate, group_frame

    groups = group_frame(_runs("protocol-dev"))
    return aggregate(groups), groups


def _rho(family: str, n: int, criterion: str = "select_tv_mmd"):
    agg = _criterion()[0]
    return agg[(agg.family == family) & (agg.n_target == n) & (agg.criterion == criterion)].iloc[0]


def _oracle_guidance_t() -> list[float]:
    from benchmark.report.transfer import transfer_scores

    return [transfer_scores(_table(s)).scores[("tgdp-oracle-guidance", "mmd", n)] for s in ("gmm2d", "gmm-overlap")
            for n in NS]


def _trials(setting: str, which: str = "every") -> list[int]:
    sel, _ = _selected(which, "target-val")
    return sorted(int(t) for t in sel.done()[lambda f: f.setting == setting].trial.unique())


def _k(which: str, variants: tuple[str, ...] = ()) -> set[int]:
    """K of the tuned rows (of ``variants`` only, where given): the draws among their holdout runs."""
    from benchmark.report.selected import draws_per_variant

    return {k for (_, v), k in draws_per_variant(_runs(which)).items() if not variants or v in variants}


def _holdout(n: int, which: str = "quick") -> int:
    f = _runs(which).frame
    (h,) = set(f.holdout[(f.n_target == n) & (f.holdout > 0)])
    return int(h)


def _tuned(setting: str, which: str = "quick") -> set[str]:
    from benchmark.report.selected import tuned_variants

    return {v for s, v in tuned_variants(_runs(which)) if s == setting}


# -- the pages' prose -----------------------------------------------------------------------------
def _prose(text: str) -> str:
    return " ".join(text.split())  # the pages wrap lines anywhere


def _section(path: Path, heading: str) -> str:
    """The section under ``heading`` up to the next ``## `` heading or results block."""
    text = path.read_text()
    start = text.index(heading)
    ends = [i for i in (text.find("\n## ", start + 1), text.find("<!-- results:", start)) if i >= 0]
    return text[start:min(ends) if ends else len(text)]


def _outside_blocks(path: Path) -> str:
    from benchmark.report.reference import BLOCK

    return BLOCK.sub("", path.read_text())


@functools.lru_cache(maxsize=None)
def _page(name: str) -> str:
    if name == "README":
        return _prose(_section(README, "## What the comparison shows"))
    if name == "recent":
        return _prose(_section(RECENT_DOC, "## What the rows show"))
    return _prose(_outside_blocks(PROTOCOL_DOC))


WORDS = {"one": 1, "two": 2, "three": 3, "five": 5, "six": 6}


def _num(text: str) -> float:
    return WORDS.get(text) or float(text.replace("−", "-").replace(",", ""))


# -- the numbers: (page, phrase with one group per number, recomputed values, decimals) ------------
NUM = r"([+−]?[\d.]+)"  # one printed number, signed or not
K_N = r"(\d+)/(\d+)"


def _readme_rows() -> list[tuple]:
    quick = len(_reference("quick").records)
    return [
        ("README", r"tables read \*\*evaluation trials\*\* \(ids ≥ (\d+)\)",
         (min(_trials("gmm2d") + _trials("gmm-overlap") + _trials("ecg-synth")),), 0),
        ("README", r"each tuned method gets K = (\d+) configurations", (_same(*_k("every")),), 0),
        ("README", r"on two GMM tasks \(gmm2d: (\d+) trials, gmm-overlap: (\d+)\)",
         (len(_trials("gmm2d")), len(_trials("gmm-overlap"))), 0),
        ("README", rf"\(Δ vs source-only {NUM} \[{NUM}, {NUM}\] {K_N} at n = 100,",
         _pd("tgdp", "source-only", 100, which="quick"), (5, 4, 4, 0, 0)),
        ("README", rf"at n = 100, {NUM} \[{NUM}, {NUM}\] {K_N} at n = 1000, neither significant",
         _pd("tgdp", "source-only", 1000, which="quick"), (4, 4, 4, 0, 0)),
        ("README", rf"reaches the target-oracle on both tasks \(T {NUM}–{NUM}\)",
         (min(_oracle_guidance_t()), max(_oracle_guidance_t())), 2),
        ("README", rf"ties with `scratch` on gmm2d \({NUM} \[{NUM}, {NUM}\] {K_N} at n = 100",
         _pd("tgdp-tclf", "scratch", 100), (5, 4, 4, 0, 0)),
        ("README", rf"{NUM} \[{NUM}, {NUM}\] {K_N} at n = 1000\) and trails `finetune`",
         _pd("tgdp-tclf", "scratch", 1000), (6, 4, 4, 0, 0)),
        ("README", rf"trails `finetune` on gmm-overlap \({NUM} \[{NUM}, {NUM}\] {K_N} at n = 100\)",
         _pd("tgdp-tclf", "finetune", 100, setting="gmm-overlap", which="quick"), (4, 4, 3, 0, 0)),
        ("README", rf"moves `scratch` at n = 1000 on gmm2d from {NUM} \(default\) to {NUM}, level",
         (_mean("scratch", 1000, which="quick", rule="default"), _mean("scratch", 1000, which="quick")), 4),
        ("README", rf"is below `tgdp-tclf` in {K_N} trials at n = 100 \({NUM} \[{NUM}, {NUM}\]\) and n = 1000 "
                   rf"\({NUM} \[{NUM}, {NUM}\]; one planned comparison",
         (_same(_pair("deft", "tgdp-tclf", 100).better, _pair("deft", "tgdp-tclf", 1000).better),
          _same(_pair("deft", "tgdp-tclf", 100).n, _pair("deft", "tgdp-tclf", 1000).n),
          *_pd("deft", "tgdp-tclf", 100)[:3], *_pd("deft", "tgdp-tclf", 1000)[:3]), (0, 0, 4, 4, 5, 4, 4, 4)),
        ("README", rf"and below `scratch` in {K_N} \(not significant after Holm",
         (_same(_pair("deft", "scratch", 100).better, _pair("deft", "scratch", 1000).better),
          _same(_pair("deft", "scratch", 100).n, _pair("deft", "scratch", 1000).n)), 0),
        ("README", r"on gmm-overlap \((\d+) trials\) it ties `scratch`", (len(_trials("gmm-overlap")),), 0),
        ("README", rf"yet below the paper's `tgdp` at n ≥ 100 on gmm2d \({K_N}\)",
         (_same(_pair("x0-guidance", "tgdp", 100).better, _pair("x0-guidance", "tgdp", 1000).better),
          _same(_pair("x0-guidance", "tgdp", 100).n, _pair("x0-guidance", "tgdp", 1000).n)), 0),
        ("README", rf"ties `finetune` in MMD² \(worse in sliced Wasserstein, {K_N}\)",
         (_same(*(_pair("dogfit", "finetune", n, metric="sliced_wasserstein").better for n in NS)),
          _same(*(_pair("dogfit", "finetune", n, metric="sliced_wasserstein").n for n in NS))), 0),
        ("README", rf"below `domain-guidance` at n ≥ 100 on gmm2d \({K_N}\)",
         (_same(_pair("dogfit", "domain-guidance", 100).better, _pair("dogfit", "domain-guidance", 1000).better),
          _same(_pair("dogfit", "domain-guidance", 100).n, _pair("dogfit", "domain-guidance", 1000).n)), 0),
        ("README", r"At n = 10 target-val selects on (two) held-out targets", (_holdout(10),), 0),
        ("README", rf"rank correlation with test MMD² is {NUM} and {NUM}, intervals",
         (_rho("finetune-like", 10).mean_rho, _rho("scratch", 10).mean_rho), 2),
        ("README", r"beat the (\d+) real records alone", tuple(_table("ecg-synth").n_targets), 0),
        ("README", r"`python -m benchmark run --all` \((\d+) runs,", (quick,), 0),
        ("README", r"into the same folder \((\d+) runs,", (len(_reference("recent").records),), 0),
    ]


def _recent_rows() -> list[tuple]:
    deft_tgdp = [_pair("deft", "tgdp", n) for n in NS]
    x0_tgdp = [_pair("x0-guidance", "tgdp", n) for n in (100, 1000)]
    dogfit_sw = [_pair("dogfit", "finetune", n, metric="sliced_wasserstein") for n in (100, 1000)]
    dogfit_dg = [_pair("dogfit", "domain-guidance", n) for n in (100, 1000)]
    tiw = [_pair("tiw-dsm", "tgdp-tclf", n) for n in (100, 1000)]
    difffit_sw = [_pair("difffit", "finetune", n, metric="sliced_wasserstein") for n in (10, 100)]
    ecg = [_mean(v, 200, "ecg-synth", "downstream_auc") for v in RECENT]
    return [
        ("recent", rf"in {K_N} trials at n = 100 \({NUM} \[{NUM}, {NUM}\]\) and n = 1000 \({NUM} \[{NUM}, {NUM}\]\), "
                   r"and far below",
         (_same(_pair("deft", "tgdp-tclf", 100).better, _pair("deft", "tgdp-tclf", 1000).better),
          _same(_pair("deft", "tgdp-tclf", 100).n, _pair("deft", "tgdp-tclf", 1000).n),
          *_pd("deft", "tgdp-tclf", 100)[:3], *_pd("deft", "tgdp-tclf", 1000)[:3]), (0, 0, 4, 4, 5, 4, 4, 4)),
        ("recent", rf"far below the paper's `tgdp` at every n \({NUM}, {NUM}, {NUM}, {K_N}\)",
         (*(c.diff for c in deft_tgdp), _same(*(c.better for c in deft_tgdp)), _same(*(c.n for c in deft_tgdp))),
         (3, 3, 3, 0, 0)),
        ("recent", rf"At n = 1000 its {NUM} is below `scratch` \({NUM} \[{NUM}, {NUM}\] {K_N};",
         (_mean("deft", 1000), *_pd("deft", "scratch", 1000)), (5, 4, 4, 4, 0, 0)),
        ("recent", rf"below the target-oracle row \({NUM}\)", (_mean("target-oracle", 1000),), 4),
        ("recent", r"On gmm-overlap \((\d+) trials\) it ties", (len(_trials("gmm-overlap")),), 0),
        ("recent", rf"far above every baseline \({NUM} / {NUM} on gmm2d at n = 100 / 1000\)",
         (_mean("x0-guidance", 100), _mean("x0-guidance", 1000)), 3),
        ("recent", rf"but below `tgdp` there \({NUM}, {NUM}, {K_N}\)",
         (*(c.diff for c in x0_tgdp), _same(*(c.better for c in x0_tgdp)), _same(*(c.n for c in x0_tgdp))),
         (3, 3, 0, 0)),
        ("recent", rf"ties `finetune` in MMD² on gmm2d at n ≥ 100 \({NUM} {K_N}, {NUM} {K_N}\)",
         (*(x for n in (100, 1000) for x in _pd("dogfit", "finetune", n)[::3] + (_pair("dogfit", "finetune", n).n,)),),
         (5, 0, 0, 5, 0, 0)),
        ("recent", rf"but is worse in sliced Wasserstein \({K_N} at both\)",
         (_same(*(c.better for c in dogfit_sw)), _same(*(c.n for c in dogfit_sw))), 0),
        ("recent", rf"below `domain-guidance` \({NUM} and {NUM}, {K_N}\) with half",
         (*(c.diff for c in dogfit_dg), _same(*(c.better for c in dogfit_dg)), _same(*(c.n for c in dogfit_dg))),
         (4, 4, 0, 0)),
        ("recent", rf"at n ≥ 100 on gmm2d \({NUM}, {NUM}, {K_N}\)",
         (tiw[0].diff, tiw[1].diff, _same(*(c.better for c in tiw)), _same(*(c.n for c in tiw))), (4, 3, 0, 0)),
        ("recent", rf"worse in sliced Wasserstein \({K_N} at n = 10 and 100\)",
         (_same(*(c.better for c in difffit_sw)), _same(*(c.n for c in difffit_sw))), 0),
        ("recent", rf"below `domain-guidance` at n = 1000 on gmm2d \({NUM} \[{NUM}, {NUM}\] {K_N}\)",
         _pd("domain-cfg", "domain-guidance", 1000), (4, 4, 4, 0, 0)),
        ("recent", rf"it is above `finetune` at n = 100 \({NUM}, {K_N}\)",
         _pd("domain-cfg", "finetune", 100)[::3] + (_pair("domain-cfg", "finetune", 100).n,), (4, 0, 0)),
        ("recent", rf"downstream AUC is {NUM}–{NUM}, every one below the (\d+) real records alone \({NUM}\)",
         (min(ecg), max(ecg), _same(*_table("ecg-synth").n_targets), _mean("real-only", 200, "ecg-synth", "downstream_auc")),
         (3, 3, 0, 3)),
    ]


def _protocol_rows() -> list[tuple]:
    agg = _criterion()[0]
    tv = agg[agg.criterion == "select_tv_mmd"].set_index(["family", "n_target"]).mean_rho
    dsm = agg[agg.criterion == "select_tv_dsm"].set_index(["family", "n_target"]).mean_rho
    dev = sorted({r["spec"]["trial"] for r in _reference("protocol-dev").records})
    quick_tuned = _tuned("gmm2d")
    return [
        ("protocol", r"the target-val criterion were chosen on trials (\d+)–(\d+)\.", (dev[0], dev[-1]), 0),
        ("protocol", r"runs quick's rows on trials (\d+)–(\d+) for the criterion study", (dev[0], dev[-1]), 0),
        ("protocol", r"\| evaluation trials \| (\d+) \((\d+)–(\d+)\) \| (\d+) \((\d+)–(\d+)\) \| (\d+) \((\d+)\) \|",
         (*(x for s in ("gmm2d", "gmm-overlap") for x in (len(_trials(s, "quick")), _trials(s, "quick")[0],
                                                           _trials(s, "quick")[-1])),
          len(_trials("ecg-synth", "quick")), _trials("ecg-synth", "quick")[0]), 0),
        ("protocol", r"\| tuned rows \(K = (\d+)\) \|", (_same(*_k("quick")),), 0),
        ("protocol", r"Each tuned row costs (five) runs per cell, so `quick` holds (five) tuned rows \((\d+) runs\)",
         (_same(*_k("quick")) + 1, len(quick_tuned), len(_reference("quick").records)), 0),
        ("protocol", r"gmm-overlap has (\d+) evaluation trials instead of (\d+);",
         (len(_trials("gmm-overlap", "quick")), len(_trials("gmm2d", "quick"))), 0),
        ("protocol", r"ecg-synth runs (one) n and (one) trial with (two) tuned rows",
         (len(_table("ecg-synth", "quick").n_targets), len(_trials("ecg-synth", "quick")), len(_tuned("ecg-synth"))), 0),
        ("protocol", r"The (six) recent methods have their own suite, `recent`, on exactly quick's cells \(K = (\d+),",
         (len({r["spec"]["method"] for r in _reference("recent").records}),
          _same(*_k("every", RECENT))), 0),
        ("protocol", r"Not traded: the equal budget, K = (\d+) for every tuned row", (_same(*_k("every")),), 0),
        ("protocol", r"quick's ECG rows at n = (\d+) on (one) evaluation trial",
         (_same(*_table("ecg-synth", "quick").n_targets), len(_trials("ecg-synth", "quick"))), 0),
        ("protocol", r"the classifier trained on the (\d+) real records alone",
         (_same(*_table("ecg-synth", "quick").n_targets),), 0),
        ("protocol", r"at least that of `select_tv_dsm` in (\d+) of the (\d+) \(family, n\) rows",
         (sum(round(tv[k], 2) >= round(dsm[k], 2) for k in tv.index), len(tv)), 0),
        ("protocol", r"at n = 10 \((two) held-out targets\)", (_holdout(10, "protocol-dev"),), 0),
    ]


def _rows() -> list[tuple]:
    return _readme_rows() + _recent_rows() + _protocol_rows()


def _row_id(page: str, phrase: str) -> str:
    """The phrase as it reads, a # for each number: ``README: (Δ vs source-only # [#, #] #/# at n = 100,``."""
    text = phrase.replace(K_N, "#/#").replace(NUM, "#")
    text = re.sub(r"\((?:\\d\+|one|two|five|six)\)", "#", text)
    return f"{page}: " + re.sub(r"\\(.)", r"\1", text)[:80]


ROWS = [pytest.param(page, phrase, values, decimals, id=_row_id(page, phrase))
        for page, phrase, values, decimals in _rows()]


@pytest.mark.parametrize("page, phrase, values, decimals", ROWS)
def test_prose_number_is_the_reference(page: str, phrase: str, values, decimals) -> None:
    """A run-derived number of README.md / docs/recent-methods.md / docs/protocol.md equals the
    committed reference at the precision the page prints (decimals: one for all values or one each)."""
    m = re.search(phrase, _page(page))
    assert m, f"phrase not in {page} (reworded?): {phrase}"
    printed = tuple(_num(g) for g in m.groups())
    decimals = decimals if isinstance(decimals, tuple) else (decimals,) * len(values)
    assert len(printed) == len(values) == len(decimals)
    recomputed = tuple(round(v, d) if math.isfinite(v) else v for v, d in zip(values, decimals))
    assert printed == recomputed, f"{page}: {phrase}\n  page {printed}\n  records {tuple(values)}"


# -- what the pages say besides numbers ------------------------------------------------------------
def _significant(setting: str, v: str, ref: str, n: int, which: str = "every") -> bool:
    return _table(setting, which).comparisons[(v, ref, "mmd", n)].significant


def _tie(c) -> bool:
    """No difference on these trials: the 95 % paired-t interval holds 0."""
    return c.lo < 0 < c.hi


def test_readme_claims_are_the_reference() -> None:
    from benchmark.report.agreement import agreement_metrics

    doc = _page("README")
    # tgdp stays at source-only level on gmm2d: neither difference significant after Holm (README's table)
    assert "neither significant after Holm" in doc
    assert not any(_significant("gmm2d", "tgdp", "source-only", n, which) for n in (100, 1000) for which in ("quick", "every"))
    # ... is the worst learned row of quick on gmm-overlap; with the recent rows only x0-guidance is above it
    assert "is the worst learned row of quick on gmm-overlap (only the zero-training `x0-guidance` is above it)" in doc
    for n in NS:
        q = _table("gmm-overlap", "quick")
        assert max(q.competitors(), key=lambda v: q.cells[(v, "mmd", n)].mean) == "tgdp"
        e = _table("gmm-overlap")
        assert sorted(e.competitors(), key=lambda v: -e.cells[(v, "mmd", n)].mean)[:2] == ["x0-guidance", "tgdp"]
    # no learned row beats the strongest tuned baseline after Holm (no + in the summary) on any GMM cell
    assert "No learned row beats the strongest tuned baseline in any cell** after Holm (no `+` below)" in doc
    for setting in ("gmm2d", "gmm-overlap"):
        for which in ("quick", "every"):
            beats = [k for k, c in _table(setting, which).comparisons.items()
                     if k[1] == "baseline" and c.significant and c.diff < 0]
            assert beats == [], beats
    assert "+" not in "".join(line.split("|", 4)[4] for line in README.read_text().split(
        "<!-- results:recent:summary:begin -->")[1].split("<!-- results:recent:summary:end -->")[0].splitlines()
        if line.startswith("| ") and not line.startswith("| method"))
    # tgdp-tclf ties scratch on gmm2d (n = 100, 1000), trails finetune on gmm-overlap at n = 100; level with scratch at 1000
    assert all(_tie(_pair("tgdp-tclf", "scratch", n)) for n in (100, 1000))
    assert _pair("tgdp-tclf", "finetune", 100, setting="gmm-overlap").diff > 0
    # deft below tgdp-tclf (significant unadjusted) with the same sign on every agreement metric at n >= 100
    sample = agreement_metrics("gmm2d", sorted(set(_selected("every", "target-val")[1].metric)))
    assert len(sample) == 4 and "all four agreement metrics" in doc
    for n in (100, 1000):
        assert _pair("deft", "tgdp-tclf", n).hi < 0
        assert all(_pair("deft", "tgdp-tclf", n, metric=m).diff < 0 for m in sample)
        # below scratch, not significant after Holm over the table (scratch is the column's baseline)
        assert _table("gmm2d").references("mmd", n)["baseline"] == "scratch"
        assert _pair("deft", "scratch", n).diff < 0 and not _significant("gmm2d", "deft", "baseline", n)
        # x0-guidance far above the baselines, yet below tgdp
        assert _mean("x0-guidance", n) > max(_mean(v, n) for v in ("finetune", "scratch", "domain-guidance"))
        assert _pair("x0-guidance", "tgdp", n).hi < 0
        # dogfit: ties finetune in MMD², worse in sliced Wasserstein, below domain-guidance
        assert _pair("dogfit", "finetune", n, metric="sliced_wasserstein").lo > 0
        assert _pair("dogfit", "domain-guidance", n).hi < 0
    assert all(_tie(_pair("dogfit", "finetune", n)) for n in NS)
    # deft ties scratch on gmm-overlap
    assert all(_tie(_pair("deft", "scratch", n, setting="gmm-overlap")) for n in NS)
    # the criterion study: target-val's criterion at n = 10, intervals reaching below 0
    from benchmark.protocol.selection import TARGET_VAL_CRITERION

    assert TARGET_VAL_CRITERION == "select_tv_mmd"
    assert _rho("finetune-like", 10).rho_lo < 0 and _rho("scratch", 10).rho_lo < 0
    # ecg-synth: one trial; no row beats real-only; tgdp below source-only
    ecg = _table("ecg-synth")
    rows = [v for v in ecg.competitors() if ecg.cells[(v, "downstream_auc", 200)].count]
    assert len(_trials("ecg-synth")) == 1 and rows
    assert max(_mean(v, 200, "ecg-synth", "downstream_auc") for v in rows) < _mean("real-only", 200, "ecg-synth",
                                                                                      "downstream_auc")
    assert _mean("tgdp", 200, "ecg-synth", "downstream_auc") < _mean("source-only", 200, "ecg-synth", "downstream_auc")


def test_recent_methods_claims_are_the_reference() -> None:
    doc = _page("recent")
    assert "not significant after Holm over the table" in doc
    assert not _significant("gmm2d", "deft", "baseline", 1000)
    assert _table("gmm2d").references("mmd", 1000)["baseline"] == "scratch"
    # deft below the target-oracle row at n = 1000; ties scratch and finetune on gmm-overlap at n >= 100
    assert _mean("deft", 1000) < _mean("target-oracle", 1000)
    assert all(_tie(_pair("deft", b, n, setting="gmm-overlap")) for b in ("scratch", "finetune") for n in (100, 1000))
    # x0-guidance far above every baseline at n = 100 / 1000, below tgdp
    for n in (100, 1000):
        assert _mean("x0-guidance", n) > max(_mean(v, n) for v in ("finetune", "scratch", "domain-guidance"))
        assert _pair("x0-guidance", "tgdp", n).hi < 0
        assert all(_pair("x0-guidance", v, n).better == 0 for v in ("finetune", "scratch", "domain-guidance"))
        # dogfit ties finetune in MMD², worse in sliced Wasserstein; tiw-dsm above tgdp-tclf
        assert _tie(_pair("dogfit", "finetune", n))
        assert _pair("dogfit", "finetune", n, metric="sliced_wasserstein").lo > 0
        assert _pair("tiw-dsm", "tgdp-tclf", n).lo > 0
    # difffit within the trial spread of finetune in MMD² at every n, worse in sliced Wasserstein at n = 10, 100
    assert all(_tie(_pair("difffit", "finetune", n)) for n in NS)
    assert all(_pair("difffit", "finetune", n, metric="sliced_wasserstein").lo > 0 for n in (10, 100))
    # domain-cfg below domain-guidance at 1000, ties it at n <= 100, above finetune at n = 100
    assert _pair("domain-cfg", "domain-guidance", 1000).hi < 0
    assert all(_tie(_pair("domain-cfg", "domain-guidance", n)) for n in (10, 100))
    assert _pair("domain-cfg", "finetune", 100).lo > 0
    # ecg-synth: one trial, the recent rows all below real-only
    assert len(_trials("ecg-synth")) == 1


def test_protocol_claims_are_the_reference() -> None:
    from benchmark.protocol.holdout import holdout_size
    from benchmark.protocol.selection import TARGET_VAL_CRITERION
    from benchmark.protocol.trials import is_evaluation
    from benchmark.report.selected import tuned_variants

    doc = _page("protocol")
    # h = max(2, round(0.2 n)) is what every holdout run of the references held out
    assert "h = max(2, round(0.2 n))" in doc
    for which in ("every", "protocol-dev"):
        f = _runs(which).frame
        assert {(int(n), int(h)) for n, h in zip(f.n_target, f.holdout) if h > 0} == {
            (int(n), holdout_size(int(n))) for n in set(f.n_target)}
    # a tuned row costs K + 1 runs per (task, n, trial): its default and K holdout runs
    for which in ("every", "protocol-dev"):
        f = _runs(which).frame
        k = _same(*_k(which))
        tuned = f[f.variant.isin({v for _, v in tuned_variants(_runs(which))})]
        assert set(tuned.groupby(["setting", "variant", "n_target", "trial"]).size()) == {k + 1}
    # development trials 0-99, evaluation >= 100: the criterion study reads development trials only
    assert not any(is_evaluation(int(t)) for t in _runs("protocol-dev").frame.trial)
    assert all(is_evaluation(int(t)) for t in _runs("every").frame.trial)
    # the table "What quick runs": tuned rows, references, n, per setting
    table = re.search(r"\| tuned rows \(K = \d+\) \| (.*?) \| (.*?) \| (.*?) \|\n\| references \| (.*?) \| (.*?) \| (.*?) \|\n"
                      r"\| n \| (.*?) \| (.*?) \| (.*?) \|", _outside_blocks(PROTOCOL_DOC)).groups()
    settings = ("gmm2d", "gmm-overlap", "ecg-synth")
    tuned, refs, ns = table[0:3], table[3:6], table[6:9]
    tuned = [tuned[0] if t == "the same" else t for t in tuned]
    refs = [refs[0] if r == "the same" else r for r in refs]
    for s, t, r, n in zip(settings, tuned, refs, ns):
        q = _table(s, "quick")
        assert set(t.split(", ")) == _tuned(s), s
        assert set(r.split(", ")) == {v for v in q.variants if q.row(v)[0] == "reference"} - {"floor", "real-only"}, s
        assert [int(x) for x in n.split(", ")] == q.n_targets, s
    # recent runs on exactly quick's cells: the same (setting, n, trial)
    f = _runs("every").frame
    recent = f.run_id.isin(_reference("recent").run_ids)
    assert set(zip(f.setting[recent], f.n_target[recent], f.trial[recent])) == set(
        zip(f.setting[~recent], f.n_target[~recent], f.trial[~recent]))
    # the criterion study: select_tv_mmd is the criterion; intervals of tv_mmd and tv_dsm overlap in every
    # (family, n) row; select_oracle_mmd nearly always (>= 90 % of groups, the most of the four) picks the best draw
    assert f"The target-val criterion is `{TARGET_VAL_CRITERION}`" in doc
    agg, groups = _criterion()
    a = agg.set_index(["family", "n_target", "criterion"])
    for fam, n in {(fam, n) for fam, n, _ in a.index}:
        x, y = a.loc[(fam, n, "select_tv_mmd")], a.loc[(fam, n, "select_tv_dsm")]
        assert x.rho_lo <= y.rho_hi and y.rho_lo <= x.rho_hi, (fam, n)
    assert "`select_oracle_mmd` on the large validation fold nearly always finds the best draw" in doc
    hit = (groups.regret == 0).groupby(groups.criterion).mean()
    assert hit["select_oracle_mmd"] >= 0.9 and hit.idxmax() == "select_oracle_mmd"
