"""Development and evaluation trials (DESIGN §8, "development apart from evaluation").

Trial ids 0..99 are **development** trials: design choices (new estimators, budgets, search
spaces, the target-val selection criterion) are made by looking at them (so far at trials
0-2).  Trial ids from :data:`EVALUATION_TRIAL_START` on are **evaluation** trials: no design
choice looked at them, so the tables read them alone once a results folder holds any; a
number read off a development trial is biased towards the choices that were made on it.

A trial id fixes the data of a run (source pool, nested target subset, test fold, source
model; :mod:`benchmark.seeding`), so the evaluation trials are fresh draws of all of these.
"""

from __future__ import annotations

#: the first evaluation trial id; ids below it are development trials
EVALUATION_TRIAL_START = 100


def is_evaluation(trial: int) -> bool:
    """True for an evaluation trial (id >= :data:`EVALUATION_TRIAL_START`)."""
    return int(trial) >= EVALUATION_TRIAL_START


def evaluation_trials(k: int) -> tuple[int, ...]:
    """The first ``k`` evaluation trial ids: 100, 101, ..., 100 + k - 1."""
    if k < 0:
        raise ValueError(f"k {k} must be >= 0")
    return tuple(range(EVALUATION_TRIAL_START, EVALUATION_TRIAL_START + int(k)))
