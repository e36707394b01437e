"""The normalised transfer score T = (M_source-only - M) / (M_source-only - M_target-oracle)
beside the raw metric: its value on fixture records, both metric directions, and every "–" case."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from benchmark.registry import load_registries
from benchmark.report.runs import collect_runs, tidy_frame_from
from benchmark.report.tables import Cell, TableData, table_data, to_latex, to_long_csv, to_markdown
from benchmark.report.transfer import format_transfer, transfer_score, transfer_scores

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "report_records"
PLUGINS = REPO_ROOT / "tests" / "fixtures" / "report_plugins"


def _table(values: dict[str, list[float]], metric: str = "mmd") -> TableData:
    data = TableData("toy", "toy", [metric], list(values), [10])
    data.cells = {(v, metric, 10): Cell(tuple(x), len(x)) for v, x in values.items()}
    return data


def test_transfer_on_fixture_records_uses_the_seed_means_of_the_same_column() -> None:
    regs = load_registries([PLUGINS])
    runs = collect_runs(FIXTURES, regs)
    tidy = tidy_frame_from(runs)
    data = table_data(runs, tidy, "gmm2d", ["mmd"])
    scores = transfer_scores(data)
    done = tidy[(tidy.setting == "gmm2d") & (tidy.metric == "mmd")]

    def mean(variant: str, n: int) -> float:
        return float(done[(done.variant == variant) & (done.n_target == n)].value.mean())

    for n in (10, 100):
        s, o = mean("source-only", n), mean("target-oracle", n)
        assert s > o  # the fixture's oracle is better: T is defined
        for v in ("tgdp", "tgdp-cond", "lora"):
            assert scores.scores[(v, "mmd", n)] == pytest.approx((s - mean(v, n)) / (s - o), rel=1e-12)
        assert scores.scores[("source-only", "mmd", n)] == 0.0
        assert scores.scores[("target-oracle", "mmd", n)] == pytest.approx(1.0)
    assert scores.scores[("finetune", "mmd", 100)] is None  # never run: no value, no T
    assert not scores.reasons
    md = to_markdown(data)
    t = scores.scores[("tgdp", "mmd", 10)]
    row = next(line for line in md.splitlines() if line.startswith("| tgdp "))
    assert f"(T {t:.2f})" in row
    assert "T = (M_source-only - M) / (M_source-only - M_target-oracle)" in md
    assert "T = (M\\_source-only" in to_latex(data, "tab:x")
    csv = pd.read_csv(pd.io.common.StringIO(to_long_csv(data)))
    got = csv[(csv.method == "tgdp") & (csv.n_target == 10)].transfer.iloc[0]
    assert got == pytest.approx(t)


def test_higher_is_better_metrics_use_the_same_formula() -> None:
    data = _table({"source-only": [0.60], "target-oracle": [0.90], "a": [0.84], "b": [0.50], "c": [0.99]},
                  metric="downstream_auc")
    s = transfer_scores(data).scores
    assert s[("a", "downstream_auc", 10)] == pytest.approx(0.8)   # 80 % of the way to the oracle
    assert s[("b", "downstream_auc", 10)] == pytest.approx(-1 / 3)  # worse than source-only: negative
    assert s[("c", "downstream_auc", 10)] == pytest.approx(1.3)   # beyond the oracle: above 1
    lower = _table({"source-only": [0.10], "target-oracle": [0.02], "a": [0.036]})
    assert transfer_scores(lower).scores[("a", "mmd", 10)] == pytest.approx(0.8)


@pytest.mark.parametrize("values, reason", [
    ({"source-only": [0.1000], "target-oracle": [0.10004], "a": [0.05]}, "equal (denominator ~0)"),
    ({"source-only": [0.01], "target-oracle": [0.1], "a": [0.05]}, "not better than source-only"),
])
def test_missing_reference_tied_or_worse_oracle_gives_a_dash_and_a_reason(values, reason) -> None:
    data = _table(values)
    scores = transfer_scores(data)
    assert scores.scores[("a", "mmd", 10)] is None
    assert reason in scores.reasons[("mmd", 10)]
    md = to_markdown(data)
    assert "(T –)" in md and reason in md
    assert "(T --)" in to_latex(data, "tab:x")


def test_no_reference_rows_or_no_direction_means_no_transfer_score() -> None:
    """T needs both reference rows: a table without a target-oracle row (a suite that plans
    none, e.g. quick's ecg-synth cell) or without source-only shows no T at all."""
    assert not transfer_scores(_table({"a": [0.1], "b": [0.2]})).metrics
    for one_reference in ({"source-only": [0.1], "a": [0.05]}, {"target-oracle": [0.1], "a": [0.05]}):
        assert not transfer_scores(_table(one_reference)).metrics and "(T" not in to_markdown(_table(one_reference))
    assert "(T" not in to_markdown(_table({"a": [0.1], "b": [0.2]}))
    floor = _table({"source-only": [0.1], "target-oracle": [0.05], "a": [0.07]}, metric="mmd_floor")
    assert not transfer_scores(floor).metrics and "(T" not in to_markdown(floor)


def test_score_and_format_edge_cases() -> None:
    assert transfer_score(math.nan, 0.1, 0.02, "min") == (None, "no value")
    assert transfer_score(0.1, math.nan, 0.02, "min")[0] is None
    assert format_transfer(None) == "T –" and format_transfer(-0.001) == "T 0.00"
    assert format_transfer(0.8349) == "T 0.83"
