"""Agreement across metrics and the ranking across cells, on synthetic records with known
answers: two metrics agree on a difference and one reverses it; a fixed order of methods."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.registry import load_registries
from benchmark.report.agreement import agreement, claim, rank_agreement, to_markdown, verdict
from benchmark.report.ranking import primary_tables, ranking
from benchmark.report.reference import Reference, _materialise
from benchmark.report.runs import collect_runs, tidy_frame_from
from benchmark.report.tables import table_data
from benchmark.spec import RunSpec

TRIALS = 8
METRICS = ("mmd", "sliced_wasserstein", "density_error")


def _runs(tmp_path: Path, per_method: dict[str, dict[str, list[float]]], n_targets=(10,)):
    records = []
    for n in n_targets:
        for method, metrics in per_method.items():
            for trial in range(len(next(iter(metrics.values())))):
                spec = RunSpec("synthetic", 0, "gmm2d", {"n_target": n}, method, {}, trial)
                records.append({"run_id": spec.run_id, "spec": spec.to_dict(),
                                "metrics": {m: v[trial] for m, v in metrics.items()},
                                "timings": {"fit_s": 1.0, "sample_s": 0.5}})
    _materialise(Reference("synthetic", tuple(records)), tmp_path)
    regs = load_registries()
    runs = collect_runs(tmp_path, regs)
    return runs, tidy_frame_from(runs), regs


@pytest.fixture
def known(tmp_path: Path):
    """finetune is the baseline; tgdp-tclf is lower on mmd and sliced_wasserstein in every trial
    (better, the metrics agree) and higher on density_error (worse: it disagrees); lora equals
    finetune up to symmetric noise on every metric."""
    rng = np.random.default_rng(0)
    effect = rng.normal(0.03, 0.01, TRIALS)
    noise = 0.001 * np.array([1, -1, 0.5, -0.5, 0.8, -0.8, 0.2, -0.2])
    rows = {
        "source-only": {m: list(effect + 0.05) for m in METRICS},
        "finetune": {m: list(effect) for m in METRICS},
        "tgdp-tclf": {"mmd": list(effect - 0.01 + 0.3 * noise), "sliced_wasserstein": list(effect - 0.02 + noise),
                      "density_error": list(effect + 0.01 - 0.3 * noise)},
        "lora": {m: list(effect + noise) for m in METRICS},
    }
    runs, tidy, regs = _runs(tmp_path, rows)
    return table_data(runs, tidy, "gmm2d", list(METRICS), regs.methods)


def test_agreement_verdicts_and_the_claim(known) -> None:
    ag = agreement(known)
    base, cmp = ag.rows[("tgdp-tclf", 10)]
    assert base == "finetune"
    assert [verdict(cmp[m], m) for m in METRICS] == ["better", "better", "worse"]
    assert claim(ag.verdicts("tgdp-tclf", 10)) == "mixed"
    assert ag.verdicts("lora", 10) == ["no difference"] * 3
    assert claim(ag.verdicts("lora", 10)) == "all no difference"
    assert ("finetune", 10) not in ag.rows and ("source-only", 10) not in ag.rows  # baseline, reference
    text = to_markdown(ag)
    assert "mixed" in text and "Kendall" in text and "better 8/8*" in text and "worse 0/8*" in text


def test_claim_is_robust_only_where_every_metric_agrees() -> None:
    assert claim(["better"] * 4) == "robust better"
    assert claim(["worse", "worse"]) == "robust worse"
    assert claim(["better", "no difference"]) == "mixed"
    assert claim(["better", "–"]) == "–"


def test_rank_agreement_is_kendall_tau_of_the_orders(known) -> None:
    ranks = rank_agreement(known).set_index(["metric_a", "metric_b"])
    # competitors: finetune, lora, tgdp-tclf; mmd and sliced_wasserstein order them alike
    assert ranks.loc[("mmd", "sliced_wasserstein"), "kendall_tau"] == pytest.approx(1.0)
    assert ranks.loc[("mmd", "density_error"), "kendall_tau"] < 0


def test_ranking_recovers_a_known_order_with_intervals(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    effect = rng.normal(0.03, 0.01, 5)
    order = {"tgdp-tclf": 0.0, "finetune": 0.01, "lora": 0.02, "scratch": 0.03}
    rows = {m: {"mmd": list(effect + d + rng.normal(0, 0.001, 5))} for m, d in order.items()}
    rows["target-oracle"] = {"mmd": list(effect - 0.1)}  # a reference: never ranked
    runs, tidy, regs = _runs(tmp_path, rows, n_targets=(10, 100))
    rk = ranking(primary_tables(runs, tidy, regs.methods), resamples=200)
    frame = rk.frame.set_index("method")
    assert list(frame.index) == list(order)
    assert list(frame.mean_rank) == [1.0, 2.0, 3.0, 4.0]
    assert (frame.cells == 2).all() and len(rk.cells) == 2
    assert (frame.lo <= frame.mean_rank).all() and (frame.mean_rank <= frame.hi).all()
    assert frame.loc["tgdp-tclf", "source"] == "ours" and frame.loc["finetune", "source"] == "published"
    again = ranking(primary_tables(runs, tidy, regs.methods), resamples=200)
    pd.testing.assert_frame_equal(rk.frame, again.frame)  # seeded
