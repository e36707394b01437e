"""The cross-setting summary (benchmark/report/summary.py) keeps each setting table's marks:
a row truly better than the strongest default baseline gets +, a worse one −, a null one
nothing; the baseline gets °; bold follows the table's paired rule; settings sit side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.report.summary import BASELINE, BETTER, WORSE, summary_frame, to_markdown
from test_paired_tables import TRIALS, _table


def _known(tmp_path: Path, shift: float):
    rng = np.random.default_rng(1)
    trial_effect = rng.normal(0.03, 0.01, TRIALS)
    noise = 0.001 * np.array([1, -1, 0.5, -0.5, 0.8, -0.8, 0.2, -0.2])
    return _table(tmp_path, {
        "source-only": list(trial_effect + 0.05),
        "finetune": list(trial_effect),
        "tgdp-tclf": list(trial_effect + shift + 0.3 * noise),
        "lora": list(trial_effect + 0.0005 + noise),
    })


def test_marks_follow_the_setting_tables(tmp_path: Path) -> None:
    better = _known(tmp_path / "a", -0.01)
    worse = _known(tmp_path / "b", +0.01)
    worse.setting = "gmm2d[b]"
    frame = summary_frame([better, worse])
    a, b = "gmm2d mmd n=10", "gmm2d[b] mmd n=10"
    assert list(frame.index[:1]) == ["source-only"]  # references first
    assert frame.loc["tgdp-tclf", a].endswith(BETTER) and frame.loc["tgdp-tclf", a].startswith("**")
    assert frame.loc["tgdp-tclf", b].endswith(WORSE) and not frame.loc["tgdp-tclf", b].startswith("**")
    assert frame.loc["finetune", b].endswith(BASELINE)
    lora = frame.loc["lora", b]
    assert not lora.endswith((BETTER, WORSE)) and lora.startswith("**")  # a null difference: tied, unmarked
    assert ("tgdp-tclf", "mmd", 10) in better.bold() and ("tgdp-tclf", "mmd", 10) not in worse.bold()
    text = to_markdown([better, worse], "title")
    assert text.startswith("title\n") and "Trials: gmm2d 8 (0–7), gmm2d[b] 8 (0–7)." in text


def test_rank_and_cost_columns(tmp_path: Path) -> None:
    t = _known(tmp_path, -0.01)
    frame = summary_frame([t])
    rank = frame["mean rank [95 %]"]
    assert rank["source-only"] == "–" and rank["tgdp-tclf"].startswith("1.00 [")  # the best row of its one column
    assert frame["s/run gmm2d"]["finetune"] != "–"
