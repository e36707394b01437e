"""finetune-cond and scratch-cond (label-conditional baselines without guidance) on gmm2d:
they fit, sample the requested labels, land on the right target component, and share the
label-conditional source model with tgdp-cond."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from benchmark.api import FitContext
from benchmark.artifacts import ArtifactCache
from benchmark.registry import load_plugin_file, load_registries
from benchmark.seeding import derive_seed, torch_generator
from benchmark.spec import RunSpec
from benchmark.denoiser_methods import source_key

ROOT = Path(__file__).resolve().parent.parent
GMM = load_plugin_file(ROOT / "datasets" / "gmm.py")
# a modest budget: 3x64 MLP, ~480 source steps of batch 512, 300 finetune steps (seconds on 1 core)
SMALL = {"width": 64, "depth": 3, "batch": 512, "lr": 2e-3, "source_epochs": 60, "sample_steps": 15}


def make_ctx(tmp_path: Path, method: str, n_target: int = 100) -> FitContext:
    task = GMM.GMM2D(GMM.GMMParams(n_target=n_target, n_source=4000, n_pool=4000, n_test=2000), 0, 0)
    spec = RunSpec("test", 0, "gmm2d", {"n_target": n_target}, method, {}, 0)
    data = task.build()
    ctx = FitContext(spec=spec, data=data.train_view(frozenset({"labels", "closed_form"})), cache=ArtifactCache(tmp_path / "artifacts"),
                      device=torch.device("cpu"), seed=lambda *a: derive_seed(0, *map(str, a)),
                      log=logging.getLogger("test"))
    ctx.heldout = data  # the test's own evaluation data (held-out folds, closed forms); never given to a method
    return ctx


@pytest.fixture(scope="module")
def methods():
    return load_registries().methods


def fit(methods, name: str, ctx: FitContext, **hparams):
    cls = methods.get(name)
    method = cls(cls.Params(**{**SMALL, **hparams}))
    method.fit(ctx)
    return method


def label_accuracy(method, ctx: FitContext, n: int = 1000) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Share of samples drawn for label k whose nearest target component carries label k."""
    cf = ctx.heldout.closed_form
    labels = torch.arange(2).repeat(n // 2)
    with torch.no_grad():
        x = method.sample(len(labels), labels, torch_generator(7)).double()
    nearest = torch.cdist(x, cf.target.means).argmin(1)
    return float((cf.target.labels[nearest] == labels).double().mean()), x, labels


def test_finetune_cond_samples_the_requested_target_component(methods, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "finetune-cond")
    cls = methods.get("finetune-cond")
    assert cls.conditional and cls.requires == frozenset({"labels"})
    method = fit(methods, "finetune-cond", ctx, finetune_steps=300, finetune_lr=5e-4)
    acc, x, labels = label_accuracy(method, ctx)
    # the exact q(x | y) puts 98.7% of its mass nearest its own component (P(Z > 0.707 / sqrt(0.1)))
    assert acc > 0.9, acc
    # closed form: E_q[x | y] is the component mean +-(0.5, -0.5); the per-label sample means land near it
    cf = ctx.heldout.closed_form
    for k in (0, 1):
        mean = x[labels == k].mean(0)
        target = cf.target.means[cf.target.labels == k][0]
        assert float((mean - target).norm()) < 0.15, (k, mean, target)
    # labels are respected: the source model moved, the component means did not swap
    assert float((x[labels == 0].mean(0) - x[labels == 1].mean(0)).norm()) > 1.0


def test_finetune_cond_reuses_the_label_conditional_source_model_of_tgdp_cond(methods, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "finetune-cond", n_target=10)
    p_ft = methods.get("finetune-cond").Params(**SMALL)
    p_tgdp = methods.get("tgdp-cond").Params(**SMALL)
    assert source_key(ctx, p_ft, True) == source_key(ctx, p_tgdp, True)
    assert source_key(ctx, p_ft, True) != source_key(ctx, p_ft, False)


def test_scratch_cond_learns_labels_from_the_target_samples_alone(methods, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "scratch-cond")
    method = fit(methods, "scratch-cond", ctx, steps=800, scratch_lr=2e-3)
    acc, _, _ = label_accuracy(method, ctx)
    assert acc > 0.9, acc
    assert not ctx.cache.root.joinpath("source").exists() or not any(ctx.cache.root.joinpath("source").iterdir())
