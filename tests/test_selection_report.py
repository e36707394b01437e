"""The report under the selection rules: evaluation trials only, the rule in every note, the
target-val and oracle tables, the tuning effect and the criterion study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.registry import load_registries
from benchmark.report.build import build_report
from fixtures.selection_records import (DEFAULT_STEP, DEV_TRIALS, EVAL_TRIALS, MMD_STEP, NS, base_mmd,
                                        write_selection_records)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sel")
    write_selection_records(root / "results")
    build_report(root / "results", root / "reports", load_registries())
    return root / "reports"


def _cell(out: Path, rule_dir: str, method: str, n: int) -> pd.Series:
    frame = pd.read_csv(out / "tables" / rule_dir / "gmm2d" / "mmd.csv")
    return frame[(frame.method == method) & (frame.n_target == n)].iloc[0]


def test_tables_read_evaluation_trials_only(report: Path) -> None:
    for n in NS:
        cell = _cell(report, "", "finetune", n)
        assert cell.seeds == len(EVAL_TRIALS)
        assert cell["mean"] == pytest.approx(np.mean([base_mmd(t, n) + DEFAULT_STEP for t in EVAL_TRIALS]))
        assert cell["mean"] < 1  # no development trial (all >= 1) leaked in
    for rule_dir in ("target-val", "oracle"):
        frame = pd.read_csv(report / "tables" / rule_dir / "gmm2d" / "mmd.csv")
        assert (frame.seeds[frame.seeds > 0] == len(EVAL_TRIALS)).all() and (frame["mean"] < 1).all()
    for md in [*(report / "tables").rglob("*.md")]:
        text = md.read_text()
        assert "evaluation trials only (5: 100–104" in text, md
        assert "selection: " in text.lower(), md


def test_development_trials_only_says_so(tmp_path: Path) -> None:
    write_selection_records(tmp_path / "results", DEV_TRIALS)
    build_report(tmp_path / "results", tmp_path / "reports", load_registries())
    text = (tmp_path / "reports" / "tables" / "gmm2d" / "mmd.md").read_text()
    assert "development trials only (3: 0–2" in text
    assert _cell(tmp_path / "reports", "", "finetune", 10).seeds == len(DEV_TRIALS)


def test_each_rule_reports_its_selected_run(report: Path) -> None:
    for n in NS:
        ev = [base_mmd(t, n) for t in EVAL_TRIALS]
        tv, oracle = _cell(report, "target-val", "finetune", n), _cell(report, "oracle", "finetune", n)
        assert tv["mean"] == pytest.approx(np.mean(ev) + MMD_STEP[1])  # select_tv_mmd picks draw 1
        assert oracle["mean"] == pytest.approx(np.mean(ev) + MMD_STEP[3])  # select_oracle_mmd picks draw 3
        # untuned rows keep their default run under every rule
        assert _cell(report, "target-val", "target-oracle", n)["mean"] == _cell(report, "", "target-oracle", n)["mean"]
    assert "Selection: target-val (4 draws, criterion select_tv_mmd on h held-out targets; model trained on the " \
           "other n − h" in (report / "tables" / "target-val" / "gmm2d" / "mmd.md").read_text()
    assert "Selection: default (draw 0" in (report / "tables" / "gmm2d" / "main.md").read_text()
    assert (report / "tables" / "target-val" / "ranking.md").exists()
    assert (report / "tables" / "oracle" / "gmm2d" / "agreement.md").exists()
    assert "tables/target-val/" in (report / "README.md").read_text()


def test_tuning_table_pairs_target_val_with_default(report: Path) -> None:
    frame = pd.read_csv(report / "tables" / "gmm2d" / "tuning.csv")
    assert set(frame.method) == {"finetune"}
    row = frame[frame.n_target == 10].iloc[0]
    assert row.target_val_minus_default_diff == pytest.approx(MMD_STEP[1] - DEFAULT_STEP)
    assert row.target_val_minus_default_n == len(EVAL_TRIALS) and row.target_val_minus_default_better == 5
    assert row.oracle_minus_default_diff == pytest.approx(MMD_STEP[3] - DEFAULT_STEP)
    assert "Δ target-val − default" in (report / "tables" / "gmm2d" / "tuning.md").read_text()


def test_criterion_study_reads_development_trials(report: Path) -> None:
    groups = pd.read_csv(report / "criterion_study_groups.csv")
    assert set(groups.trial) == set(DEV_TRIALS) and set(groups.variant) == {"finetune"}
    agg = pd.read_csv(report / "criterion_study.csv").set_index(["n_target", "criterion"])
    assert set(agg.family) == {"finetune-like"}
    assert agg.loc[(10, "select_tv_mmd"), "mean_rho"] == pytest.approx(1.0)
    assert agg.loc[(10, "select_tv_mmd"), "mean_regret"] == pytest.approx(0.0)
    assert agg.loc[(10, "select_oracle_mmd"), "mean_rho"] == pytest.approx(-1.0)
    assert agg.loc[(10, "select_oracle_mmd"), "mean_regret"] == pytest.approx(MMD_STEP[3])
    assert agg.loc[(10, "select_tv_mmd"), "groups"] == len(DEV_TRIALS)
    text = (report / "criterion_study.md").read_text()
    assert "How noisy at n = 10" in text and "h = 2 held-out targets" in text
