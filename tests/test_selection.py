"""Selection rules: default, target-val, oracle; only the select_* columns decide."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.protocol.selection import RULES, TARGET_VAL_CRITERION, describe, select

K = 4


def runs_frame(seed: int = 0) -> pd.DataFrame:
    """finetune (tuned: default + K holdout runs) and target-oracle (default only), 2 trials."""
    rng = np.random.default_rng(seed)
    rows = []
    for trial in (0, 1):
        rows.append({"setting": "gmm2d", "n_target": 10, "trial": trial, "variant": "target-oracle", "draw": 0,
                     "holdout": 0, "select_oracle_mmd": 0.01, "mmd": 0.002, "sliced_wasserstein": 0.1})
        rows.append({"setting": "gmm2d", "n_target": 10, "trial": trial, "variant": "finetune", "draw": 0,
                     "holdout": 0, "select_oracle_mmd": 0.05, "mmd": 0.03, "sliced_wasserstein": 0.2})
        for d in range(K):
            rows.append({"setting": "gmm2d", "n_target": 10, "trial": trial, "variant": "finetune", "draw": d,
                         "holdout": 2, "select_tv_dsm": [0.5, 0.3, 0.4, 0.6][d], "select_tv_mmd": [0.2, 0.4, 0.1, 0.3][d],
                         "select_oracle_mmd": [0.04, 0.05, 0.06, 0.02][d], "select_oracle_dsm": 0.3,
                         "mmd": float(rng.uniform(0.01, 0.05)), "sliced_wasserstein": float(rng.uniform())})
    return pd.DataFrame(rows)


def chosen(frame: pd.DataFrame, rule: str, **kw) -> dict:
    out = select(frame, rule, **kw)
    return {(r.variant, r.trial): (r.draw, r.holdout) for r in out.itertuples()}


def test_each_rule_keeps_one_run_per_group() -> None:
    frame = runs_frame()
    assert TARGET_VAL_CRITERION == "select_tv_mmd"
    assert chosen(frame, "default") == {("finetune", 0): (0, 0), ("finetune", 1): (0, 0),
                                        ("target-oracle", 0): (0, 0), ("target-oracle", 1): (0, 0)}
    tv = select(frame, "target-val")
    assert chosen(frame, "target-val")[("finetune", 0)] == (2, 2)  # lowest select_tv_mmd
    assert chosen(frame, "oracle")[("finetune", 0)] == (3, 2)  # lowest select_oracle_mmd
    assert chosen(frame, "oracle")[("target-oracle", 0)] == (0, 0)  # untuned: the default run
    assert set(tv.tuned[tv.variant == "target-oracle"]) == {False} and set(tv.tuned[tv.variant == "finetune"]) == {True}
    assert set(tv.criterion[tv.variant == "finetune"]) == {"select_tv_mmd"}
    assert chosen(frame, "target-val", criterion="select_tv_dsm")[("finetune", 0)] == (1, 2)
    for rule in RULES:
        assert len(select(frame, rule)) == 4 and rule.split("-")[0] in describe(rule)
    with pytest.raises(ValueError):
        select(frame, "test")


def test_ties_go_to_the_lowest_draw_and_a_missing_criterion_falls_back() -> None:
    frame = runs_frame()
    frame.loc[frame.holdout > 0, "select_tv_mmd"] = 0.1
    assert chosen(frame, "target-val")[("finetune", 0)] == (0, 2)
    frame = frame.drop(columns=["select_tv_mmd"])  # a record without the criterion: the fallback decides
    out = select(frame, "target-val")
    assert chosen(frame, "target-val")[("finetune", 0)] == (1, 2)
    assert set(out.criterion[out.variant == "finetune"]) == {"select_tv_dsm"}


def test_a_tuned_group_without_holdout_runs_is_left_out_when_the_frame_says_it_is_tuned() -> None:
    frame = runs_frame()
    frame = frame[~((frame.variant == "finetune") & (frame.trial == 1) & (frame.holdout > 0))]
    frame = frame.assign(tuned=frame.variant == "finetune")
    assert ("finetune", 1) not in chosen(frame, "target-val")
    assert chosen(frame, "default")[("finetune", 1)] == (0, 0)


def test_test_metrics_do_not_move_the_choice() -> None:
    frame = runs_frame()
    reference = {rule: chosen(frame, rule) for rule in RULES}
    rng = np.random.default_rng(1)
    for poison in ("nan", "shuffle", "invert"):
        bad = frame.copy()
        for col in ("mmd", "sliced_wasserstein"):
            if poison == "nan":
                bad[col] = np.nan
            elif poison == "shuffle":
                bad[col] = rng.permutation(bad[col].to_numpy())
            else:
                bad[col] = -bad[col]
        for rule in RULES:
            assert chosen(bad, rule) == reference[rule], (poison, rule)
    # the selected rows still carry their own (here poisoned) test metrics
    assert select(bad, "target-val").mmd.tolist() == bad.loc[select(frame, "target-val").index].mmd.tolist()


def test_a_select_value_moves_the_choice() -> None:
    frame = runs_frame()
    row = frame.index[(frame.variant == "finetune") & (frame.trial == 0) & (frame.draw == 3) & (frame.holdout > 0)][0]
    frame.loc[row, "select_tv_mmd"] = 0.01
    assert chosen(frame, "target-val")[("finetune", 0)] == (3, 2)
    frame.loc[row, "select_oracle_mmd"] = 0.5
    assert chosen(frame, "oracle")[("finetune", 0)] == (0, 2)
    assert chosen(frame, "target-val")[("finetune", 1)] == (2, 2)  # the other trial did not move
