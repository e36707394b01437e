"""The ``gmm-overlap`` task (datasets/gmm.py) and the validation fold of every GMM task.

- the mixtures are the module docstring's formulas (means, variances, weights, labels);
- the closed-form scores of p and q at t = 0 (and noised) are the autograd gradients of the
  log densities, marginal and label-conditional;
- r = q/p of the closed form equals a ratio of densities written out here from the formula;
- large samples have the mixture's mean, second moment, label frequencies and component weights;
- ``extras["val_x"]`` / ``["val_y"]``: n_test draws of q of their own stream, disjoint from the
  test fold, deterministic, and leaving every other array as it was.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import gmm_task

from benchmark.closed_form import TransferClosedForm
from benchmark.design import Design
from benchmark.params import resolve_params
from benchmark.registry import load_registries

GMM_TASKS = ("gmm2d", "gmm-highdim", "gmm-noisy-source", "gmm-overlap")

# the module docstring's gmm-overlap, in d = 4: (mean as (e1, e2) coefficients, variance, weight, label)
SOURCE = [((1.0, 0.0), 0.1, 0.5, 0), ((-1.0, 0.0), 0.2, 0.3, 1), ((0.0, 1.0), 0.1, 0.2, 1)]
TARGET = [((1.0, 0.3), 0.15, 0.7, 0), ((0.0, -1.0), 0.05, 0.3, 1)]


def _mean(coef: tuple[float, float], d: int) -> torch.Tensor:
    m = torch.zeros(d, dtype=torch.float64)
    m[0], m[1] = coef
    return m


def density(comps, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """sum_c w_c N(x; mu_c, v_c I) written out (only the components labelled y where y is given)."""
    d = x.shape[1]
    out = torch.zeros(x.shape[0], dtype=torch.float64)
    for coef, v, w, label in comps:
        g = w * (2 * math.pi * v) ** (-d / 2) * torch.exp(-(x - _mean(coef, d)).pow(2).sum(1) / (2 * v))
        out += g if y is None else g * (y == label)
    return out


@pytest.fixture(scope="module")
def overlap(gmm):
    return gmm_task(gmm, "GMMOverlap", n_target=10, n_source=200, n_pool=200, n_test=100, n_eval=50)


def test_the_mixtures_are_the_docstrings(overlap) -> None:
    p, q = overlap.mixtures()
    for mix, comps in ((p, SOURCE), (q, TARGET)):
        assert mix.dim == 4
        assert torch.equal(mix.means, torch.stack([_mean(c[0], 4) for c in comps]))
        assert torch.equal(mix.variances, torch.tensor([c[1] for c in comps], dtype=torch.float64))
        assert torch.equal(mix.weights, torch.tensor([c[2] for c in comps], dtype=torch.float64))
        assert torch.equal(mix.labels, torch.tensor([c[3] for c in comps]))
        assert math.isclose(float(mix.weights.sum()), 1.0)
    # one target component near a source one, the other at least 3 standard deviations from each
    dist = torch.cdist(q.means, p.means)
    assert float(dist[0, 0]) == pytest.approx(0.3)
    assert (dist[1] / p.variances.sqrt() > 3).all() and float(dist[1].min()) == pytest.approx(math.sqrt(2))
    data = overlap.build()
    assert data.num_classes == 2 and data.source_x.shape == (200, 4) and data.test_x.shape == (100, 4)
    assert set(data.source_y.tolist()) == {0, 1} and set(data.oracle_y.tolist()) == {0, 1}


@pytest.mark.parametrize("dim", [2, 3, 7])
def test_any_dimension_from_two(gmm, dim: int) -> None:
    p, q = gmm_task(gmm, "GMMOverlap", n_target=10, dim=dim).mixtures()
    assert p.dim == q.dim == dim and float(p.means[:, 2:].abs().sum() + q.means[:, 2:].abs().sum()) == 0.0
    with pytest.raises(ValueError, match="dim"):
        gmm.GMMOverlapParams(dim=1)


@pytest.mark.parametrize("t", [None, 0.0, 0.05, 0.5])
def test_scores_are_autograd_gradients(overlap, t: float | None) -> None:
    closed = overlap.build().closed_form
    gen = torch.Generator().manual_seed(0)
    x = 1.2 * torch.randn(128, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(2, (128,), generator=gen)
    tt = None if t is None else torch.full((128,), t, dtype=torch.float64)
    for mix in (closed.source, closed.target):
        for label in (None, y):
            def log_density(z, mix=mix, label=label):
                return mix.log_prob(z, tt) if label is None else mix.log_joint(z, label, tt)
            z = x.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(log_density(z).sum(), z)
            assert torch.allclose(mix.score(x, tt, y=label), grad, atol=1e-9)
    if t is None:  # log q at t = 0 is the density written out above
        assert torch.allclose(closed.target.log_prob(x), torch.log(density(TARGET, x)), atol=1e-10)
    else:
        z = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(closed.log_h_star(z, tt).sum(), z)
        assert torch.allclose(closed.grad_log_h_star(x, tt), grad, atol=1e-9)


def test_the_density_ratio_is_q_over_p(overlap) -> None:
    closed: TransferClosedForm = overlap.build().closed_form
    gen = torch.Generator().manual_seed(1)
    x = torch.cat([closed.source.sample(300, gen)[0], closed.target.sample(300, gen)[0]]).double()
    y = torch.randint(2, (600,), generator=gen)
    r = density(TARGET, x) / density(SOURCE, x)
    assert torch.allclose(closed.log_ratio(x).exp(), r, rtol=1e-9)
    r_joint = density(TARGET, x, y) / density(SOURCE, x, y)
    assert torch.allclose(closed.log_ratio(x, y).exp(), r_joint, rtol=1e-9)
    # the far target component makes r large there and E_p[r] = 1
    assert float(closed.log_ratio(torch.tensor([[0.0, -1.0, 0.0, 0.0]], dtype=torch.float64))) > 5
    xs, _ = closed.source.sample(200_000, torch.Generator().manual_seed(2))
    assert float(closed.log_ratio(xs.double()).exp().mean()) == pytest.approx(1.0, abs=0.1)


def test_large_samples_follow_the_mixtures(gmm) -> None:
    n = 200_000
    task = gmm_task(gmm, "GMMOverlap", n_target=10, n_source=n, n_pool=n, n_test=100)
    data = task.build()
    for x, y, mix in ((data.source_x, data.source_y, data.closed_form.source),
                      (data.oracle_x, data.oracle_y, data.closed_form.target)):
        x = x.double()
        w = mix.weights
        mean = (w[:, None] * mix.means).sum(0)
        second = (w * (mix.means.pow(2).sum(1) + 4 * mix.variances)).sum()
        assert torch.allclose(x.mean(0), mean, atol=0.01)
        assert float(x.pow(2).sum(1).mean()) == pytest.approx(float(second), abs=0.02)
        # E[responsibility of c] = w_c, and the label frequencies are the label weights
        resp = torch.softmax(mix.component_log_probs(x), dim=1).mean(0)
        assert torch.allclose(resp, w, atol=0.005)
        freq = torch.bincount(y, minlength=2).double() / n
        label_w = torch.stack([w[mix.labels == k].sum() for k in (0, 1)])
        assert torch.allclose(freq, label_w, atol=0.005)


@pytest.mark.parametrize("name", GMM_TASKS)
def test_every_gmm_task_has_a_validation_fold(name: str) -> None:
    task_cls = load_registries().tasks.get(name)
    params = resolve_params(task_cls.Params, {**task_cls.contract_params, "n_target": 5}, owner=name)
    data = task_cls(params, 0, 0).build()
    val_x, val_y = data.extras["val_x"], data.extras["val_y"]
    assert val_x.shape == data.test_x.shape == (params.n_test, data.test_x.shape[1])
    assert val_y.shape == data.test_y.shape and val_y.dtype == data.test_y.dtype
    assert not torch.equal(val_x, data.test_x)
    assert not {r.numpy().tobytes() for r in val_x} & {r.numpy().tobytes() for r in data.test_x}
    again = task_cls(params, 0, 0).build()
    assert torch.equal(again.extras["val_x"], val_x) and torch.equal(again.extras["val_y"], val_y)
    assert not torch.equal(task_cls(params, 0, 1).build().extras["val_x"], val_x)  # varies by trial
    # drawn from q on the target_val stream of the same axes as the other splits
    fixed = {k: v for k, v in vars(params).items() if k not in ("n_target", "n_eval", "separation")}
    gen = Design(name, 0, 0).generator(fixed, 0, "target_val")
    x, y = data.closed_form.target.sample(params.n_test, gen)
    assert torch.equal(x, val_x) and torch.equal(y, val_y)
