"""Numbers in docs/ that come from runs are generated from the committed reference, and a test keeps
them in step: the estimator table of docs/results.md is what scripts/estimator_table.py prints; the
prose numbers of docs/guidance-estimators.md (ESS, cosines, norm ratios) are recomputed from
results/reference/pre-protocol-quick.jsonl (development trials of commit 69a53fb) and its weight
statistics from the task's closed form, as scripts/guidance_audit.py computes them; the prose numbers of
docs/results.md (ESS, yardsticks, cosine ranges, paired differences, ecg-synth AUCs, the after side of
each before → after) are recomputed from the same file, one row of _results_md_table each."""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest
from conftest import REPO_ROOT


def _table(text: str) -> str:
    start = text.index("| method | guidance_loss |")
    end = text.find("\n\n", start)
    return text[start:end if end >= 0 else len(text)].strip()


def test_estimator_table_in_results_md_is_the_reference() -> None:
    out = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "estimator_table.py"),
                          str(REPO_ROOT / "results" / "reference" / "pre-protocol-quick.jsonl")],
                         capture_output=True, text=True, check=True, cwd=REPO_ROOT).stdout
    doc = (REPO_ROOT / "docs" / "results.md").read_text()
    assert _table(doc) == _table(out), "regenerate the table: python scripts/estimator_table.py results/reference/pre-protocol-quick.jsonl"


# -- docs/guidance-estimators.md: its prose numbers against the records they quote ---------------
PRE_PROTOCOL = REPO_ROOT / "results" / "reference" / "pre-protocol-quick.jsonl"
GUIDANCE_DOC = REPO_ROOT / "docs" / "guidance-estimators.md"


def _oracle_ratio_records() -> list[dict]:
    """The gmm2d records of ``tgdp-oracle-ratio`` with the default guidance_loss (l2, the variant
    without a ``[...]`` suffix) in the pre-protocol reference (development trials, commit 69a53fb)."""
    import json

    rows = [json.loads(line) for line in PRE_PROTOCOL.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["spec"]["task"] == "gmm2d" and r["spec"]["variant"] == "tgdp-oracle-ratio"]


def _prose(text: str) -> str:
    return " ".join(text.split())  # the doc wraps lines anywhere


def test_guidance_estimators_prose_numbers_are_the_records() -> None:
    """Every number of "Why the l2 row sits at source-only level" that comes from runs, recomputed
    from results/reference/pre-protocol-quick.jsonl and compared at the precision the page prints
    (ESS to the integer, cosines to 3 decimals or 2 significant digits, norm ratios to 1
    significant digit of a percent)."""
    import re

    import numpy as np

    doc = _prose(GUIDANCE_DOC.read_text())
    recs = _oracle_ratio_records()
    by_trial = {r["spec"]["trial"]: r["metrics"]["ratio_ess"] for r in recs}
    assert len({(r["spec"]["trial"], round(r["metrics"]["ratio_ess"], 6)) for r in recs}) == len(by_trial)  # one ESS a trial
    ess0, lo, hi = (int(x) for x in re.search(
        r"ESS \(sum r\)\^2 / sum r\^2 = (\d+) on trial 0 \((\d+)-(\d+) over the three trials", doc).groups())
    assert len(by_trial) == 3
    assert (ess0, lo, hi) == (round(by_trial[0]), round(min(by_trial.values())), round(max(by_trial.values())))

    m = re.search(r"cosine (-?[\d.]+) to ([\d.]+) \(mean ([\d.]+)\) to grad log h\* at t = 0\.05 and "
                  r"([\d.]+)-([\d.]+) % of its norm \(`tgdp-oracle-ratio`, the (\d+) records of (\d+) trials x (\d+) n", doc)
    assert m, "the cosine / norm sentence changed; update this test"
    cmin, cmax, cmean, nmin, nmax, count, trials, ns = m.groups()
    cos = np.array([r["metrics"]["grad_cos_t0.05"] for r in recs])
    norm = 100 * np.array([r["metrics"]["grad_norm_ratio_t0.05"] for r in recs])
    assert (int(count), int(trials), int(ns)) == (len(recs), len(by_trial), len({r["spec"]["task_params"]["n_target"] for r in recs}))
    assert float(cmin) == round(cos.min(), 3) and float(cmax) == round(cos.max(), 2)
    assert float(cmean) == round(cos.mean(), 3)
    assert float(nmin) == float(f"{norm.min():.1g}") and float(nmax) == float(f"{norm.max():.1g}")


def test_guidance_estimators_weight_numbers_are_the_closed_form() -> None:
    """The weight statistics the page quotes from ``scripts/guidance_audit.py`` (trial 0): E_q[r]
    "about 450" (to 2 significant digits), the top-100 share (whole percent), the median ESS of a
    batch of 256 (integer), and the ESS equals the records' ``ratio_ess`` of trial 0."""
    import importlib.util
    import re

    from benchmark.seeding import torch_generator

    spec = importlib.util.spec_from_file_location("guidance_audit", REPO_ROOT / "scripts" / "guidance_audit.py")
    audit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(audit)
    doc = _prose(GUIDANCE_DOC.read_text())
    e_q, share, batch = re.search(r"E_p\[r\^2\] = E_q\[r\] is about (\d+),.*?the top 100 of them carry (\d+) % of "
                                  r"sum r, and a uniform batch of 256 has a median ESS of (\d+) \(trial 0", doc).groups()
    data = audit.GMM.GMM2D(audit.GMM.GMMParams(n_target=100), 0, 0).build()
    cf = data.closed_form
    log_r = cf.log_ratio(data.source_x.double()).float()
    stats = audit.weight_stats(log_r, torch_generator(1))
    assert int(e_q) == float(f"{float(cf.log_ratio(data.oracle_x.double()).exp().mean()):.2g}")
    assert int(share) == round(100 * stats["top100_share"]) and int(batch) == round(stats["median_batch_ess_256"])
    trial0 = [r["metrics"]["ratio_ess"] for r in _oracle_ratio_records() if r["spec"]["trial"] == 0]
    assert stats["ratio_ess"] == pytest.approx(trial0[0], rel=1e-6)


# -- docs/results.md: its prose numbers against the records they quote ------------------------------
RESULTS_DOC = REPO_ROOT / "docs" / "results.md"


@functools.lru_cache(maxsize=1)
def _records() -> list[dict]:
    import json

    return [json.loads(line) for line in PRE_PROTOCOL.read_text().splitlines() if line.strip()]


def _vals(variant: str, n: int, metric: str = "mmd", task: str = "gmm2d") -> list[float]:
    """One cell's metric over its trials; a variant is the method with its ``[option=...]`` suffix."""
    return [r["metrics"][metric] for r in _records()
            if r["spec"]["task"] == task and r["spec"]["variant"] == variant and r["spec"]["task_params"]["n_target"] == n]


def _mean(variant: str, n: int, metric: str = "mmd", task: str = "gmm2d") -> float:
    import statistics

    return statistics.mean(_vals(variant, n, metric, task))


def _sd(variant: str, n: int, metric: str = "mmd") -> float:
    import statistics

    return statistics.stdev(_vals(variant, n, metric))  # sample standard deviation over the trials


def _up(x: float, decimals: int) -> float:
    """A printed upper bound: x rounded up at the printed precision."""
    import math

    return math.ceil(x * 10**decimals) / 10**decimals


def _paired(row: str, base: str, n: int):
    """Mean paired MMD² difference row - base over the trials, its 95 % paired-t interval, p."""
    import numpy as np
    from scipy import stats

    by = {v: {r["spec"]["trial"]: r["metrics"]["mmd"] for r in _records() if r["spec"]["task"] == "gmm2d"
              and r["spec"]["variant"] == v and r["spec"]["task_params"]["n_target"] == n} for v in (row, base)}
    trials = sorted(by[row])
    a, b = np.array([by[row][t] for t in trials]), np.array([by[base][t] for t in trials])
    res = stats.ttest_rel(a, b)
    ci = res.confidence_interval(0.95)
    return float((a - b).mean()), float(ci.low), float(ci.high), float(res.pvalue)


ORACLE_LOG, ORACLE_LR = "tgdp-oracle-ratio[guidance_loss=log]", "tgdp-oracle-ratio[guidance_loss=logistic-resampled]"
TGDP_LOG, COND_LOG = "tgdp[guidance_loss=log]", "tgdp-cond[guidance_loss=log]"
NS = (10, 100, 1000)
ECG_UNCOND = ("domain-guidance", "finetune", "lora", "scratch", "source-only", "tgdp", "tgdp-lr", "tgdp-reg", "tgdp-tclf")


def _results_md_table() -> list[tuple[str, tuple[float, ...], int]]:
    """(phrase of docs/results.md with one group per number, the numbers recomputed from the records,
    decimals the page prints them to).  Means are over the 3 trials of a cell; "cos" is the cell mean
    of grad_cos_t0.05 or t0.2; a "≤" bound is the maximum rounded up."""
    recs = _records()
    oracle = {r["spec"]["trial"]: r["metrics"] for r in recs if r["spec"]["variant"] == "tgdp-oracle-ratio"}
    ess = [m["ratio_ess"] for m in oracle.values()]
    cos = lambda v, n, t: _mean(v, n, f"grad_cos_t{t}")  # noqa: E731
    l2_cells = [cos(v, n, t) for v in ("tgdp", "tgdp-oracle-ratio") for n in NS for t in ("0.05", "0.2")]
    l2_runs = [r["metrics"]["grad_cos_t0.05"] for r in recs
               if r["spec"]["task"] == "gmm2d" and r["spec"]["variant"] in ("tgdp", "tgdp-oracle-ratio")]
    log_cells = [cos(v, n, t) for v in (TGDP_LOG, ORACLE_LOG) for n in (100, 1000) for t in ("0.05", "0.2")]
    log_10 = [cos(TGDP_LOG, 10, t) for t in ("0.05", "0.2")]
    lr_cos = [cos(ORACLE_LR, n, "0.05") for n in NS]
    lr_mmd = [_mean(ORACLE_LR, n) for n in NS]
    tclf_cos = [cos("tgdp-tclf", n, "0.05") for n in NS]
    mem = [_mean(v, n, "memorisation") for v in {r["spec"]["variant"] for r in recs
                                                  if r["spec"]["task"] == "gmm2d" and "memorisation" in r["metrics"]} for n in NS]
    ecg = lambda v, n, m="downstream_auc": _mean(v, n, m, "ecg-synth")  # noqa: E731
    d100, lo100, hi100, _ = _paired("tgdp-tclf", "scratch", 100)
    d1000, lo1000, hi1000, _ = _paired("tgdp-tclf", "finetune", 1000)
    gmm_cells = {(r["spec"]["variant"], r["spec"]["task_params"]["n_target"]) for r in recs
                 if r["spec"]["task"] == "gmm2d" and "grad_cos_t0.05" in r["metrics"]}
    return [
        # header and the table's caption
        (r"(\d+) runs on trials (\d)–(\d)", (len(recs), min(r["spec"]["trial"] for r in recs), max(r["spec"]["trial"] for r in recs)), 0),
        (r"ratio weights over the ([\d,]+) source samples", ({r["spec"]["task_params"].get("n_source") for r in recs} - {None}).pop(), 0),
        (r"the oracle rows use the exact r, ESS (\d+)-(\d+) per trial \(mean (\d+)\)", (min(ess), max(ess), sum(ess) / len(ess)), 0),
        (r"per trial \(mean \d+\) and mean ([\d.]+) on these samples", (sum(m["ratio_mean"] for m in oracle.values()) / len(oracle),), 2),
        # yardsticks
        (r"source-only ([\d.]+) / ([\d.]+) / ([\d.]+), finetune", tuple(_mean("source-only", n) for n in NS), 3),
        (r"finetune ([\d.]+) / ([\d.]+) / ([\d.]+), target-oracle", tuple(_mean("finetune", n) for n in NS), 3),
        (r"target-oracle ([\d.]+) / ([\d.]+) / ([\d.]+) at n = 10 / 100 / 1000", tuple(_mean("target-oracle", n) for n in NS), 4),
        # what the table shows
        (r"cosine ≤ ([\d.]+) at every n in the table", (_up(max(l2_cells), 2),), 2),
        (r"\(≤ ([\d.]+) in every single run at t = 0\.05\)", (_up(max(l2_runs), 2),), 2),
        (r"ESS (\d+)-(\d+) of ([\d,]+) for the exact r", (min(ess), max(ess), 10000), 0),
        (r"cosine ([\d.]+)–([\d.]+) at n ≥ 100, ([\d.]+)–([\d.]+) with the learned r̂ at n = 10",
         (min(log_cells), max(log_cells), min(log_10), max(log_10)), 1),
        (r"except ([\d.]+) with the exact r at n = 10\)", (_mean(ORACLE_LOG, 10),), 3),
        (r"it works: ([\d.]+) / [\d.]+ at n = 100 / 1000", (_mean(COND_LOG, 100),), 4),
        (r"it works: [\d.]+ / ([\d.]+) at n = 100 / 1000", (_mean(COND_LOG, 1000),), 4),
        (r"\(cosine ([\d.]+)–([\d.]+) at t = 0\.05, MMD² [\d.]+–", (min(lr_cos), max(lr_cos)), 2),
        (r"MMD² ([\d.]+)–[\d.]+\)\. With the learned", (min(lr_mmd),), 4),
        (r"MMD² [\d.]+–([\d.]+)\)\. With the learned", (max(lr_mmd),), 3),
        (r"\(ESS (\d+) / (\d+) / (\d+), mean", tuple(_mean("tgdp", n, "ratio_ess") for n in NS), 0),
        (r"mean ([\d.]+) at n = 10\): good", (_mean("tgdp", 10, "ratio_mean"),), 1),
        (r"has cosine ([\d.]+)–([\d.]+) at t = 0\.05 and the lowest", (min(tclf_cos), max(tclf_cos)), 2),
        (r"\]: (−[\d.]+) \[−[\d.]+, [\d.]+\] against scratch at n = 100", (d100,), 4),
        (r"\]: −[\d.]+ \[(−[\d.]+), ([\d.]+)\] against scratch at n = 100", (lo100, hi100), 3),
        (r"(−[\d.]+) \[−[\d.]+, ([\d.]+)\] against finetune at n = 1000", (d1000, hi1000), 4),
        (r"−[\d.]+ \[(−[\d.]+), [\d.]+\] against finetune at n = 1000", (lo1000,), 3),
        (r"the cosine at t = 0\.2 to ([\d.]+) / ([\d.]+) and the MMD²", (cos("tgdp-cycle", 100, "0.2"), cos("tgdp-cycle", 1000, "0.2")), 2),
        (r"MMD² a little \(([\d.]+) / ([\d.]+)\) at n = 100 / 1000", (_mean("tgdp-cycle", 100), _mean("tgdp-cycle", 1000)), 3),
        (r"distance\) is ([\d.]+)–([\d.]+) in every row", (min(mem), max(mem)), 2),
        # ecg-synth
        (r"the `real-only` row: ([\d.]+) / ([\d.]+)\)", (ecg("tgdp", 50, "downstream_real_auc"), ecg("tgdp", 200, "downstream_real_auc")), 3),
        (r"\(`source-only-cond`\) gives AUC ([\d.]+) / ([\d.]+) at n = 50 / 200", (ecg("source-only-cond", 50), ecg("source-only-cond", 200)), 3),
        (r"`tgdp-cond` ([\d.]+) / ([\d.]+), `finetune-cond` ([\d.]+) / ([\d.]+), `tgdp-cond-lr` ([\d.]+) / ([\d.]+);",
         tuple(ecg(v, n) for v in ("tgdp-cond", "finetune-cond", "tgdp-cond-lr") for n in (50, 200)), 3),
        (r"every unconditional row stays at ([\d.]+)–([\d.]+) / ([\d.]+)–([\d.]+),",
         (min(ecg(v, 50) for v in ECG_UNCOND), max(ecg(v, 50) for v in ECG_UNCOND),
          min(ecg(v, 200) for v in ECG_UNCOND), max(ecg(v, 200) for v in ECG_UNCOND)), 2),
        (r"`tgdp-cond` \[([\d.]+), ([\d.]+)\] against `source-only-cond` \[([\d.]+), ([\d.]+)\]",
         tuple(ecg(v, 200, m) for v in ("tgdp-cond", "source-only-cond") for m in ("downstream_auc_lo", "downstream_auc_hi")), 3),
        # what changed: the after side of each before → after
        (r"source-only is unchanged to the last digit \(([\d.]+) / ([\d.]+) / ([\d.]+)\)", tuple(_mean("source-only", n) for n in NS), 4),
        (r"to ([\d.]+) / ([\d.]+) with a std of", (_mean("scratch", 10), _mean("finetune", 10)), 4),
        (r"with a std of ([\d.]+) across the three draws", (_sd("scratch", 10),), 2),
        (r"with a std of ([\d.]+) across the three draws", (_sd("finetune", 10),), 2),
        (r"→ ([\d.]+) / ([\d.]+) / ([\d.]+) \(together", tuple(_mean("lora", n) for n in NS), 4),
        (r"of (\d+) TGDP-family cells", (len(gmm_cells),), 0),
        (r"tgdp-oracle-guidance n = 100 [\d.]+ → ([\d.]+),", (_mean("tgdp-oracle-guidance", 100),), 5),
        (r"tgdp-oracle-ratio\[l2\] n = 100 [\d.]+ → ([\d.]+),", (_mean("tgdp-oracle-ratio", 100),), 4),
        (r"tgdp-consistency n = 100 [\d.]+ → ([\d.]+)\)", (_mean("tgdp-consistency", 100),), 4),
        (r"tgdp\[l2\] n = 10 [\d.]+ → ([\d.]+),", (_mean("tgdp", 10, "density_error"),), 3),
        (r"tgdp-oracle-guidance n = 100 [\d.]+ → ([\d.]+)\)\.", (_mean("tgdp-oracle-guidance", 100, "density_error"),), 3),
        (r"tgdp-cond\[log\] n = 1000 [\d.]+ → ([\d.]+),", (_mean(COND_LOG, 1000),), 5),
        (r"tgdp-tclf n = 1000 [\d.]+ → ([\d.]+) ± [\d.]+\)", (_mean("tgdp-tclf", 1000),), 5),
        (r"tgdp-tclf n = 1000 [\d.]+ → [\d.]+ ± ([\d.]+)\)", (_sd("tgdp-tclf", 1000),), 4),
        (r"give (\d+) of (\d+) bit-identical records", (len(recs), len(recs)), 0),
        (r"the (\d+) ecg-synth runs differ", (sum(r["spec"]["task"] == "ecg-synth" for r in recs),), 0),
    ]


def _num(text: str) -> float:
    return float(text.replace("−", "-").replace(",", ""))


@pytest.mark.parametrize("phrase, values, decimals", _results_md_table(), ids=lambda x: x if isinstance(x, str) else "")
def test_results_md_prose_numbers_are_the_records(phrase: str, values, decimals: int) -> None:
    """Every run-derived number in the prose of docs/results.md (outside its estimator table, which the
    test above regenerates) equals the records of results/reference/pre-protocol-quick.jsonl at the
    precision the page prints."""
    import re

    values = values if isinstance(values, tuple) else (values,)
    m = re.search(phrase, _prose(RESULTS_DOC.read_text()))
    assert m, f"phrase not in docs/results.md (reworded?): {phrase}"
    printed = tuple(_num(g) for g in m.groups())
    assert printed == tuple(round(v, decimals) for v in values), f"{phrase}: page {printed}, records {values}"


def test_results_md_prose_claims_are_the_records() -> None:
    """What the page says about the records besides numbers: its provenance (commit, CPU, one torch
    thread, one ecg seed, LoRA's learning rate), the orderings it states, and the batch ESS it shares
    with docs/guidance-estimators.md (checked there against the closed form)."""
    import re

    doc = _prose(RESULTS_DOC.read_text())
    recs = _records()
    commit = re.search(r"code of commit ([0-9a-f]{7})", doc).group(1)
    assert {r["git_commit"][:7] for r in recs} == {commit}
    assert {r["cpu"] for r in recs} == {"AMD EPYC (AVX512)"} and "2-core AMD EPYC (AVX512)" in doc
    assert "one torch thread per run" in doc and {r["torch_threads"] for r in recs} == {1}
    assert "One seed, downstream classifier" in doc
    assert {len(_vals(r["spec"]["variant"], n, "downstream_auc", "ecg-synth"))
            for r in recs if r["spec"]["task"] == "ecg-synth" for n in (50, 200)} == {1}
    # "LoRA's learning rate on gmm2d is its own (10⁻³) instead of the full-finetune 2·10⁻⁴"
    assert "its own (10⁻³) instead of the full-finetune 2·10⁻⁴" in doc
    lrs = {m: {r["spec"]["hparams"]["finetune_lr"] for r in recs if r["spec"]["task"] == "gmm2d" and r["spec"]["method"] == m}
           for m in ("lora", "finetune")}
    assert lrs == {"lora": {1e-3}, "finetune": {2e-4}}
    # log overshoots: every unconditional log cell is above source-only but the one the page excepts
    below = [(v, n) for v in (TGDP_LOG, ORACLE_LOG) for n in NS if _mean(v, n) <= _mean("source-only", n)]
    assert below == [(ORACLE_LOG, 10)]
    # tgdp-tclf: the lowest unconditional (learned, not oracle, not label-conditional) mean at n = 100
    # and 1000; the best baseline is scratch at n = 100 and finetune at n = 1000; neither paired
    # difference significant even before Holm
    uncond = {r["spec"]["variant"] for r in recs if r["spec"]["task"] == "gmm2d"
              and "cond" not in r["spec"]["variant"] and "oracle" not in r["spec"]["variant"]}
    for n, best_base in ((100, "scratch"), (1000, "finetune")):
        assert min(uncond, key=lambda v: _mean(v, n)) == "tgdp-tclf"
        assert min(("finetune", "lora", "scratch"), key=lambda v: _mean(v, n)) == best_base
        assert _paired("tgdp-tclf", best_base, n)[3] > 0.05
    # ecg-synth: every unconditional row below real-only at n = 200
    assert max(_mean(v, 200, "downstream_auc", "ecg-synth") for v in ECG_UNCOND) < _mean("tgdp", 200, "downstream_real_auc", "ecg-synth")
    assert {r["spec"]["variant"] for r in recs if r["spec"]["task"] == "ecg-synth" and "cond" not in r["spec"]["variant"]} == set(ECG_UNCOND)
    # the batch ESS of the exact r, the same number docs/guidance-estimators.md checks against the closed form
    here = re.search(r"the median ESS of a batch of 256 is about (\d+)", doc).group(1)
    there = re.search(r"a uniform batch of 256 has a median ESS of (\d+)", _prose(GUIDANCE_DOC.read_text())).group(1)
    assert here == there
