"""The kernel-free two-sample statistics (benchmark/metrics/two_sample.py) against what is known:
scipy's 1-D energy distance, the null behaviour of C2ST and of the MMD permutation p-value, and
their power on shifted samples."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from benchmark.metrics.two_sample import c2st, energy_distance, mmd_permutation_pvalue


def _gauss(n: int, d: int, shift: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, d), generator=g, dtype=torch.float64) + shift


def test_energy_distance_matches_scipy_in_one_dimension() -> None:
    x, y = _gauss(300, 1, 0.0, 0), _gauss(400, 1, 0.7, 1)
    ours = energy_distance(x, y)
    theirs = scipy.stats.energy_distance(x[:, 0].numpy(), y[:, 0].numpy())
    assert ours == pytest.approx(theirs**2, rel=1e-9)


def test_energy_distance_grows_with_the_shift_and_vanishes_without_it() -> None:
    same = energy_distance(_gauss(1000, 2, 0.0, 0), _gauss(1000, 2, 0.0, 1))
    near, far = energy_distance(_gauss(1000, 2, 0.0, 0), _gauss(1000, 2, 0.3, 1)), \
        energy_distance(_gauss(1000, 2, 0.0, 0), _gauss(1000, 2, 1.0, 1))
    assert abs(same) < 0.01 < near < far


def test_c2st_is_at_chance_under_the_null_and_high_under_a_shift() -> None:
    null = c2st(_gauss(1000, 2, 0.0, 0), _gauss(1000, 2, 0.0, 1), seed=0)
    assert 1 - null["c2st_null_hi"] <= null["c2st_accuracy"] <= null["c2st_null_hi"]
    shifted = c2st(_gauss(1000, 2, 0.0, 0), _gauss(1000, 2, 2.0, 1), seed=0)
    assert shifted["c2st_accuracy"] > 0.8
    assert c2st(_gauss(200, 2, 0.0, 0), _gauss(200, 2, 0.5, 1), seed=3) == \
        c2st(_gauss(200, 2, 0.0, 0), _gauss(200, 2, 0.5, 1), seed=3)  # seeded


def test_mmd_pvalue_is_uniform_under_the_null_and_small_under_a_shift() -> None:
    ps = [mmd_permutation_pvalue(_gauss(150, 2, 0.0, 2 * s), _gauss(150, 2, 0.0, 2 * s + 1), seed=s,
                                 n_perm=99)["mmd_pvalue"] for s in range(20)]
    assert 0.25 < float(np.mean(ps)) < 0.75 and sum(p <= 0.05 for p in ps) <= 4  # ~1 expected
    shifted = mmd_permutation_pvalue(_gauss(300, 2, 0.0, 0), _gauss(300, 2, 0.5, 1), seed=0, n_perm=99)
    assert shifted["mmd_pvalue"] == pytest.approx(1 / 100)


def test_the_permutation_statistic_is_the_suites_unbiased_mmd() -> None:
    from benchmark.metrics.kernels import MIX, median_bandwidth, mmd2_unbiased
    from benchmark.metrics.two_sample import _mixed_kernel, _mmd2_for_labellings

    x, y = _gauss(300, 2, 0.0, 0), _gauss(300, 2, 0.3, 1)
    bw = [median_bandwidth(y) * f for f in MIX]
    labels = torch.cat([torch.ones(300), torch.zeros(300)]).double()
    ours = float(_mmd2_for_labellings(_mixed_kernel(torch.cat([x, y]), bw), labels[:, None])[0])
    assert ours == pytest.approx(mmd2_unbiased(x, y, bw), rel=1e-5)


def test_the_registered_metric_scores_a_run_context() -> None:
    from benchmark.metrics.context import EvalContext
    from benchmark.registry import load_registries

    regs = load_registries()
    task_cls = regs.tasks.get("gmm2d")
    data = task_cls(task_cls.Params(n_target=10, n_source=500, n_pool=500, n_test=600), 0, 0).build()
    ctx = EvalContext(data=data, samples=data.oracle_x[:300].float(), labels=None, seed=7, device=torch.device("cpu"))
    out = regs.metrics.get("two_sample")(ctx)
    assert set(out) == {"energy_distance", "c2st_accuracy", "c2st_null_hi", "mmd_pvalue"}
    assert out["c2st_accuracy"] < out["c2st_null_hi"] + 0.05 and out["mmd_pvalue"] > 0.01  # target vs target
    assert out == regs.metrics.get("two_sample")(ctx)  # seeded
