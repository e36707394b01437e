"""Development and evaluation trial ids."""

from __future__ import annotations

import pytest

from benchmark.protocol.trials import EVALUATION_TRIAL_START, evaluation_trials, is_evaluation


def test_evaluation_trials_start_at_100_and_development_trials_are_below() -> None:
    assert EVALUATION_TRIAL_START == 100
    assert not any(is_evaluation(t) for t in (0, 1, 2, 99))
    assert all(is_evaluation(t) for t in (100, 101, 250))
    assert evaluation_trials(3) == (100, 101, 102) and evaluation_trials(0) == ()
    with pytest.raises(ValueError):
        evaluation_trials(-1)
