"""Numbers in docs/ that come from runs are generated from the committed reference, and a test keeps
them in step: the estimator table of docs/results.md is what scripts/estimator_table.py prints; the
prose numbers of docs/guidance-estimators.md (ESS, cosines, norm ratios) are recomputed from
results/reference/pre-protocol-quick.jsonl (development trials of commit 69a53fb) and its weight
statistics from the task's closed form, as scripts/guidance_audit.py computes them."""

from __future__ import annotations

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
