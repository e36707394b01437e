"""The runs a table reads under a selection rule, on the trials a table may read.

:func:`rule_runs` turns the report's :class:`RunSet` (every run: default and holdout runs of
every draw) into the RunSet of one rule of :mod:`benchmark.protocol.selection`: one run per
(setting, variant, n_target, trial), the rest of the table code unchanged.

* **Trials.** Where the done records hold any evaluation trial
  (:mod:`benchmark.protocol.trials`: id >= 100), only evaluation trials are read; with none,
  the tables use the (development) trials they have and their note says so.
* **Rows.** The grid is that of the default runs (draw 0, holdout 0): under ``default`` it is
  read as it is; under ``target-val`` and ``oracle`` the cell of a tuned variant (one with
  any holdout run in its setting) is the selected holdout run, or a hole saying how many of
  its holdout runs are done where none could be selected; an untuned variant keeps its
  default run under every rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pandas as pd

from benchmark.protocol.selection import (ORACLE_CRITERION, RULES, SELECT_PREFIX, TARGET_VAL_CRITERION, describe,
                                          select)
from benchmark.protocol.trials import EVALUATION_TRIAL_START, is_evaluation
from benchmark.report.runs import NOT_RUN, RunSet
from benchmark.store import DONE

KEY = ["setting", "variant", "n_target", "trial"]


@dataclass(frozen=True)
class Scope:
    """Which trials the tables read: ``evaluation`` (ids >= 100) where any done record has one."""

    evaluation: bool
    trials: tuple[int, ...]

    def note(self) -> str:
        if not self.trials:
            return "no trials"
        ids = _ranges(self.trials)
        if self.evaluation:
            return f"evaluation trials only ({len(self.trials)}: {ids}; development trials < {EVALUATION_TRIAL_START} not read)"
        return f"development trials only ({len(self.trials)}: {ids}; no evaluation trial >= {EVALUATION_TRIAL_START} recorded)"


def _ranges(trials: tuple[int, ...]) -> str:
    parts, start = [], None
    for i, t in enumerate(trials):
        if start is None:
            start = t
        if i + 1 == len(trials) or trials[i + 1] != t + 1:
            parts.append(str(start) if start == t else f"{start}–{t}")
            start = None
    return ", ".join(parts)


def trial_scope(runs: RunSet) -> Scope:
    done = runs.done()
    evaluation = bool(done.trial.map(is_evaluation).any()) if len(done) else False
    frame = runs.frame[runs.frame.trial.map(is_evaluation) == evaluation] if len(runs.frame) else runs.frame
    return Scope(evaluation, tuple(sorted(int(t) for t in frame.trial.unique())))


def tuned_variants(runs: RunSet) -> set[tuple[str, str]]:
    """(setting, variant) pairs with any holdout run (done or not) in the report."""
    f = runs.frame[runs.frame.holdout > 0]
    return set(zip(f.setting, f.variant))


def draws_per_variant(runs: RunSet) -> dict[tuple[str, str], int]:
    """(setting, variant) -> K, the number of draws among its holdout runs."""
    f = runs.frame[runs.frame.holdout > 0]
    return {k: int(g.draw.nunique()) for k, g in f.groupby(["setting", "variant"])}


def select_frame(runs: RunSet) -> pd.DataFrame:
    """One row per done run: KEY, draw, holdout, run_id, ``tuned`` and its ``select_*`` metrics."""
    done = runs.done()
    tuned = tuned_variants(runs)
    rows = []
    for r in done.itertuples(index=False):
        metrics = runs.records[r.run_id].get("metrics", {})
        rows.append({"setting": r.setting, "variant": r.variant, "n_target": r.n_target, "trial": r.trial,
                     "draw": r.draw, "holdout": r.holdout, "run_id": r.run_id, "tuned": (r.setting, r.variant) in tuned,
                     **{k: float(v) for k, v in metrics.items() if k.startswith(SELECT_PREFIX) and v is not None}})
    return pd.DataFrame(rows, columns=None if rows else [*KEY, "draw", "holdout", "run_id", "tuned"])


def rule_runs(runs: RunSet, rule: str, scope: Optional[Scope] = None) -> RunSet:
    """The RunSet a table reads under ``rule`` on ``scope``'s trials (module docstring)."""
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; rules: {', '.join(RULES)}")
    scope = scope or trial_scope(runs)
    frame = runs.frame[runs.frame.trial.isin(scope.trials)]
    if frame.empty:
        return RunSet(frame.reset_index(drop=True), {}, runs.plan)
    sub = RunSet(frame, runs.records, runs.plan)
    tuned = tuned_variants(sub)
    chosen = select(select_frame(sub), rule) if len(sub.done()) else pd.DataFrame(columns=[*KEY, "run_id"])
    chosen_ids = dict(zip(map(tuple, chosen[KEY].to_numpy().tolist()), chosen.run_id))
    by_id = frame[frame.status == DONE].set_index("run_id")
    rows = []
    for (setting, variant, n, trial), group in frame.groupby(KEY, sort=False):
        key = (setting, variant, n, trial)
        base = group[(group.draw == 0) & (group.holdout == 0)]
        if key in chosen_ids:
            rid = chosen_ids[key]
            rows.append(by_id.loc[[rid]].reset_index().iloc[0])
        elif rule == "default" or (setting, variant) not in tuned:
            if len(base):
                rows.append(base.iloc[0])
        elif len(base) or len(group):
            held = group[group.holdout > 0]
            hole = (base if len(base) else group).iloc[0].copy()
            reasons = sorted({str(x) for x in held.reason[held.status != DONE] if x})
            hole["run_id"], hole["status"] = "", NOT_RUN
            hole["draw"], hole["holdout"] = 0, int(held.holdout.max()) if len(held) else 0
            hole["reason"] = (f"{rule}: no holdout run to select ({int((held.status == DONE).sum())} of {len(held)} "
                              "done" + (f"; {reasons[0]}" if reasons else "") + ")")
            rows.append(hole)
    out = pd.DataFrame(rows, columns=frame.columns).sort_values(KEY, kind="stable").reset_index(drop=True)
    used = {rid: runs.records[rid] for rid in out.run_id[out.status == DONE] if rid in runs.records}
    return RunSet(out, used, runs.plan)


def protocol_note(runs: RunSet, rule: str, scope: Scope) -> str:
    """The sentence every table of ``rule`` carries: the rule, its K and criterion, the trials."""
    ks = sorted(set(draws_per_variant(runs).values()))
    k = ks[0] if len(ks) == 1 else None
    criterion = {"target-val": TARGET_VAL_CRITERION, "oracle": ORACLE_CRITERION}.get(rule)
    text = describe(rule, criterion, k)
    if rule != "default" and not ks:
        text += "; no method has holdout runs here, so every row is its default run"
    elif rule != "default" and k is None:
        text = text.replace("K draws", "K = " + "/".join(map(str, ks)) + " draws by method")
    if rule != "default":
        text += "; untuned rows (references, oracles, source-only) keep their default run"
    return f"{text}; {scope.note()}."
