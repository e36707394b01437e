"""gmm2d's ``separation`` s: mu_T(s) = mu_S + s (mu_T - mu_S) (datasets/gmm.py).

- s = 1 is the task as it was: the mixtures, every array and both keys equal those built by
  the old formula (two_component(±(0.5, 0.5)), two_component(±(0.5, -0.5)), the data streams
  seeded with every parameter but n_target and n_eval, the keys naming the same);
- s = 0 puts q = p: log r and log h* are 0 everywhere (marginal and label-joint);
- other s move only the target means (common random numbers) and change the keys;
- s < 0 (or NaN) is refused.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import gmm_task

from benchmark.design import Design
from benchmark.params import resolve_params

SMALL = {"n_source": 300, "n_pool": 200, "n_test": 150, "n_eval": 50}
ARRAYS = ("source_x", "source_y", "target_x", "target_y", "test_x", "test_y", "source_test_x",
          "source_test_y", "oracle_x", "oracle_y")


def old_mixtures(gmm):
    return (gmm.two_component(torch.tensor([0.5, 0.5]), 0.1), gmm.two_component(torch.tensor([0.5, -0.5]), 0.1))


def old_build(gmm, n_target: int, trial: int, **sizes) -> dict[str, torch.Tensor]:
    """gmm2d's arrays and keys as the task drew them before ``separation`` existed."""
    prm = gmm.GMMParams(n_target=n_target, **sizes)
    p, q = old_mixtures(gmm)
    design = Design("gmm2d", 0, trial)
    fixed = {k: v for k, v in vars(prm).items() if k not in ("n_target", "n_eval")}
    out = {}
    out["source_x"], out["source_y"] = p.sample(prm.n_source, design.generator(fixed, trial, "source"))
    out["source_test_x"], out["source_test_y"] = p.sample(prm.n_test, design.generator(fixed, trial, "source_test"))
    out["oracle_x"], out["oracle_y"] = q.sample(prm.n_pool, design.generator(fixed, trial, "target_pool"))
    out["test_x"], out["test_y"] = q.sample(prm.n_test, design.generator(fixed, trial, "target_test"))
    subset = design.subset(prm.n_pool, n_target)
    out["target_x"], out["target_y"] = out["oracle_x"][subset], out["oracle_y"][subset]
    out["source_key"] = design.source_key(params=fixed, trial=trial)
    out["target_key"] = design.target_key(out["source_key"], n_target)
    return out


def test_the_default_is_one_and_enters_the_params(gmm) -> None:
    prm = resolve_params(gmm.GMM2D.Params, {"separation": 2}, owner="gmm2d")
    assert gmm.GMM2D.Params().separation == 1.0 and prm.separation == 2.0


@pytest.mark.parametrize("trial", [0, 1])
def test_separation_one_is_todays_task(gmm, trial: int) -> None:
    task = gmm_task(gmm, trial=trial, n_target=20, separation=1.0, **SMALL)
    for new, old in zip(task.mixtures(), old_mixtures(gmm)):
        for field in ("means", "variances", "weights", "labels"):
            assert torch.equal(getattr(new, field), getattr(old, field))
    data, old = task.build(), old_build(gmm, 20, trial, **SMALL)
    for name in ARRAYS:
        assert torch.equal(getattr(data, name), old[name]), name
    assert (data.source_key, data.target_key) == (old["source_key"], old["target_key"])
    # the old Params class (as scripts and other tests build gmm2d) gives the same task
    legacy = gmm.GMM2D(gmm.GMMParams(n_target=20, **SMALL), 0, trial).build()
    assert all(torch.equal(getattr(legacy, n), getattr(data, n)) for n in ARRAYS)
    assert (legacy.source_key, legacy.target_key) == (data.source_key, data.target_key)


def test_separation_zero_makes_the_ratio_one(gmm) -> None:
    cf = gmm_task(gmm, n_target=10, separation=0.0, **SMALL).build().closed_form
    gen = torch.Generator().manual_seed(0)
    x = 2.0 * torch.randn(500, 2, generator=gen, dtype=torch.float64)
    y = torch.randint(2, (500,), generator=gen)
    t = torch.rand(500, generator=gen, dtype=torch.float64)
    assert torch.equal(cf.source.means, cf.target.means)
    for value in (cf.log_ratio(x), cf.log_ratio(x, y), cf.log_h_star(x, t), cf.log_h_star(x, t, y)):
        assert torch.equal(value, torch.zeros_like(value))


@pytest.mark.parametrize("s", [0.0, 0.5, 2.0])
def test_other_separations_move_only_the_target_means(gmm, s: float) -> None:
    base = gmm_task(gmm, n_target=20, **SMALL)
    task = gmm_task(gmm, n_target=20, separation=s, **SMALL)
    p1, q1 = base.mixtures()
    p, q = task.mixtures()
    assert torch.equal(p.means, p1.means) and torch.equal(q.variances, q1.variances)
    assert torch.allclose(q.means, p1.means + s * (q1.means - p1.means), atol=1e-15)
    assert math.isclose(float(torch.dist(q.means[0], p.means[0])), s * 1.0, abs_tol=1e-12)
    d1, d = base.build(), task.build()
    assert torch.equal(d.source_x, d1.source_x) and torch.equal(d.target_y, d1.target_y)  # same streams
    shift = (q.means - q1.means).float()[d.oracle_y]
    assert torch.allclose(d.oracle_x, d1.oracle_x + shift, atol=1e-6)
    assert d.source_key != d1.source_key and d.target_key != d1.target_key


@pytest.mark.parametrize("s", [-0.1, float("nan")])
def test_negative_separation_is_refused(gmm, s: float) -> None:
    with pytest.raises(ValueError, match="separation"):
        gmm.GMM2D.Params(separation=s)
