"""The protocol's runs (DESIGN.md §8): K draws per tuned method trained without the target-val
holdout, the holdout view, and selection criteria that read the holdout and the validation
fold only (never the test fold), checked against closed forms where they exist."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.api import TaskData
from benchmark.closed_form import GaussianMixture
from benchmark.errors import BenchmarkError
from benchmark.planner import plan
from benchmark.protocol.criteria import dsm_criterion, mmd_criterion, selection_criteria
from benchmark.protocol.holdout import holdout_size
from benchmark.registry import load_registries
from benchmark.runner import _selection_criteria
from benchmark.spec import Cell, RunSpec, Suite
from benchmark.suites import SMOKE_GMM, SMOKE_GMM_TASK

REGS = load_registries()


def _suite(draws: int, methods=("finetune", "tgdp", "source-only", "target-oracle"), n=(10, 100), trials=(0, 100)):
    return Suite("t", "t", (Cell("gmm2d", methods, n, trials, task_params=SMOKE_GMM_TASK,
                                 hparams=SMOKE_GMM.hparams(), draws=draws),))


def test_holdout_size_rule() -> None:
    assert [holdout_size(n) for n in (4, 10, 100, 1000)] == [2, 2, 20, 200]
    with pytest.raises(BenchmarkError, match="too small for target-val"):
        holdout_size(3)


def test_draws_plan_default_plus_k_holdout_runs_for_tuned_methods_only() -> None:
    k = 4
    specs = plan(_suite(k), REGS)
    base = {s.run_id for s in plan(_suite(1), REGS)}
    by = {}
    for s in specs:
        by.setdefault((s.method, s.n_target, s.trial), []).append(s)
    for (method, n, _trial), runs in by.items():
        tuned = REGS.methods.get(method).tuned and method != "source-only"
        assert len(runs) == (1 + k if tuned else 1)
        default = [s for s in runs if s.holdout == 0]
        assert len(default) == 1 and default[0].draw == 0 and default[0].run_id in base  # today's run, same id
        held = [s for s in runs if s.holdout]
        assert sorted(s.draw for s in held) == (list(range(k)) if tuned else [])
        assert all(s.holdout == holdout_size(n) for s in held)
        if held:  # draw 0 with the holdout has the default's hyper-parameters
            assert dict(next(s for s in held if s.draw == 0).hparams) == dict(default[0].hparams)
    # a draw's values are shared across n_target and trials, and differ between draws
    for method in ("finetune", "tgdp"):
        values = {}
        for s in specs:
            if s.method == method and s.holdout:
                values.setdefault(s.draw, set()).add(tuple(sorted(s.hparams.items())))
        assert all(len(v) == 1 for v in values.values()) and len({next(iter(v)) for v in values.values()}) == k


def test_holdout_is_identity_and_draw_is_provenance() -> None:
    spec = RunSpec("t", 0, "gmm2d", {"n_target": 10}, "finetune", {"finetune_lr": 1e-3}, 0)
    held = RunSpec("t", 0, "gmm2d", {"n_target": 10}, "finetune", {"finetune_lr": 1e-3}, 0, holdout=2, draw=3)
    assert spec.run_id != held.run_id and "holdout" not in spec.identity()
    relabelled = RunSpec("t", 0, "gmm2d", {"n_target": 10}, "finetune", {"finetune_lr": 1e-3}, 0, holdout=2, draw=1)
    assert relabelled.run_id == held.run_id
    back = RunSpec.from_dict(held.to_dict())
    assert (back.run_id, back.holdout, back.draw) == (held.run_id, 2, 3)
    with pytest.raises(ValueError):
        RunSpec("t", 0, "gmm2d", {}, "finetune", {}, 0, holdout=-1)


def _mixture(mu: float) -> GaussianMixture:
    return GaussianMixture(means=torch.tensor([[mu, mu], [-mu, -mu]], dtype=torch.float64),
                           variances=torch.full((2,), 0.1, dtype=torch.float64),
                           weights=torch.tensor([0.5, 0.5], dtype=torch.float64), labels=torch.tensor([0, 1]))


def _data(n: int = 10) -> TaskData:
    q = _mixture(0.5)
    g = torch.Generator().manual_seed(0)
    target_x, target_y = q.sample(n, g)
    val_x, val_y = q.sample(500, g)
    nan = torch.full((50, 2), math.nan)
    return TaskData(source_x=_mixture(1.0).sample(200, g)[0], target_x=target_x, target_y=target_y,
                    test_x=nan, source_test_x=nan, oracle_x=target_x, kind="vector", source_key="s", target_key="t",
                    num_classes=2, extras={"val_x": val_x, "val_y": val_y})


def test_train_view_holds_out_the_last_targets() -> None:
    data = _data(10)
    view = data.train_view(frozenset({"labels"}), holdout=2)
    held_x, held_y = data.held_out_targets(2)
    assert torch.equal(view.target_x, data.target_x[:8]) and torch.equal(held_x, data.target_x[8:])
    assert torch.equal(view.target_y, data.target_y[:8]) and torch.equal(held_y, data.target_y[8:])
    assert view.target_key != data.target_key == data.train_view(frozenset()).target_key
    assert view.target_x._base is None  # no view of the full target tensor reaches the method
    with pytest.raises(ValueError):
        data.train_view(frozenset(), holdout=10)


def test_mmd_criterion_separates_the_right_distribution_from_a_wrong_one() -> None:
    g = torch.Generator().manual_seed(1)
    q, wrong = _mixture(0.5), _mixture(1.0)
    fold = q.sample(400, g)[0]
    good = mmd_criterion(q.sample(2000, g)[0], fold, fold)
    bad = mmd_criterion(wrong.sample(2000, g)[0], fold, fold)
    assert abs(good) < 0.01 < bad


def test_dsm_criterion_is_lowest_for_the_exact_noise_predictor() -> None:
    """The exact eps of q minimises the expected denoising loss on points of q (closed form)."""
    q, wrong = _mixture(0.5), _mixture(1.0)
    fold = q.sample(300, torch.Generator().manual_seed(2))[0]
    exact = dsm_criterion(lambda x, t, y: q.eps(x.double(), t.double()).float(), fold, None, 7, torch.device("cpu"))
    other = dsm_criterion(lambda x, t, y: wrong.eps(x.double(), t.double()).float(), fold, None, 7, torch.device("cpu"))
    again = dsm_criterion(lambda x, t, y: q.eps(x.double(), t.double()).float(), fold, None, 7, torch.device("cpu"))
    assert exact < other and exact == again  # seeded: the same (t, eps) for every predictor


class _Exact:
    predicts_noise = True

    def noise_prediction(self, x, t, labels):
        return _mixture(0.5).eps(x.double(), t.double()).float()


def test_selection_never_reads_the_test_fold() -> None:
    """The test and held-out source folds are NaN here; every criterion is still finite, and
    the target-val fold is the holdout only (changing a training target leaves it unchanged)."""
    data = _data(10)
    spec = RunSpec("t", 0, "gmm2d", {"n_target": 10}, "finetune", {}, 0, holdout=2)
    samples = _mixture(0.5).sample(500, torch.Generator().manual_seed(3))[0]
    crit = _selection_criteria(spec, _Exact(), False, data, samples, torch.device("cpu"))
    assert set(crit) == {"select_tv_mmd", "select_tv_dsm", "select_oracle_mmd", "select_oracle_dsm"}
    assert all(math.isfinite(v) for v in crit.values())
    no_holdout = _selection_criteria(RunSpec("t", 0, "gmm2d", {"n_target": 10}, "finetune", {}, 0), _Exact(), False,
                                     data, samples, torch.device("cpu"))
    assert set(no_holdout) == {"select_oracle_mmd", "select_oracle_dsm"}
    data.target_x[0] += 5.0  # a training target moves: the holdout's dsm does not
    moved = _selection_criteria(spec, _Exact(), False, data, samples, torch.device("cpu"))
    assert moved["select_tv_dsm"] == crit["select_tv_dsm"] and moved["select_oracle_dsm"] == crit["select_oracle_dsm"]


def test_criteria_without_a_noise_predictor_give_mmd_only() -> None:
    data = _data(10)
    x = data.extras["val_x"]
    out = selection_criteria(None, x, {"oracle": (x, None, x)}, lambda f: 0, torch.device("cpu"))
    assert set(out) == {"select_oracle_mmd"}
