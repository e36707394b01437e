"""TGDP components against the exact answers of gmm2d.

Tolerances are stated next to each assertion; sizes are small so the file runs in well
under a minute on 2 cores.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import pytest
import torch

from benchmark.api import FitContext
from benchmark.artifacts import ArtifactCache
from benchmark.diffusion.guidance import grad_log_of
from benchmark.diffusion.samplers import sample
from benchmark.metrics.kernels import MIX, median_bandwidth, mmd2_unbiased
from benchmark.seeding import derive_seed, torch_generator
from benchmark.spec import RunSpec
from benchmark.tgdp.classifier import ClassifierConfig
from benchmark.tgdp.guidance_net import GuidanceConfig, build_guidance, train_guidance
from benchmark.tgdp.stages import domain_classifier, source_log_ratios

GMM = importlib.import_module("benchmark.builtin.datasets.gmm")


def make_ctx(tmp_path: Path, n_target: int, n_source: int = 4000) -> FitContext:
    task = GMM.GMM2D(GMM.GMMParams(n_target=n_target, n_source=n_source, n_pool=4000, n_test=2000), 0, 0)
    spec = RunSpec("test", 0, "gmm2d", {"n_target": n_target}, "tgdp", {}, 0)
    return FitContext(spec=spec, data=task.build(), task=task, cache=ArtifactCache(tmp_path / "artifacts"),
                      device=torch.device("cpu"), seed=lambda *a: derive_seed(0, *map(str, a)),
                      log=logging.getLogger("test"))


def mmd_to(x: torch.Tensor, ref: torch.Tensor) -> float:
    med = median_bandwidth(ref)
    return mmd2_unbiased(x[: len(ref)], ref, [med * f for f in MIX])


@pytest.fixture(scope="module")
def ctx100(tmp_path_factory) -> FitContext:
    return make_ctx(tmp_path_factory.mktemp("tgdp"), 100)


def _relative_l2(h, cf, x0: torch.Tensor, ts: tuple[float, ...]) -> float:
    """mean_t E_{x_t ~ noised x0} (h - h*)^2 / E (h*)^2 on a fixed grid of times."""
    from benchmark.diffusion.schedule import VPSchedule

    sched, gen, errs = VPSchedule(), torch_generator(11), []
    for t in ts:
        tt = torch.full((len(x0),), t)
        xt = sched.noise(x0, tt, torch.randn(x0.shape, generator=gen))
        with torch.no_grad():
            est, exact = h.log_h(xt, tt).double().exp(), cf.log_h_star(xt.double(), tt.double()).exp()
        errs.append(float((est - exact).pow(2).mean() / exact.pow(2).mean()))
    return sum(errs) / len(errs)


@pytest.mark.slow
def test_guidance_network_with_exact_ratio_approaches_h_star(ctx100):
    """Regressing h_psi on the exact r(x_0) over source samples (the default L2 loss in
    ratio space) recovers h* = q_t/p_t in L2(p_t), the norm its loss minimises: relative
    error E(h - h*)^2 / E(h*)^2 on noised held-out source samples at t in {0.3, 0.6, 1.0}
    below 0.08 and below half the untrained network's.  (At t < 0.3, where log h* spans
    about [-11, 11] on these samples, a 3x128 network at this budget does not fit the
    ratio's tails; the guidance_error diagnostic and the quick suite report that regime.)"""
    d, cf = ctx100.data, ctx100.data.closed_form
    cfg = GuidanceConfig(width=128, depth=3, steps=1000, lr=2e-3, batch=512)
    torch.manual_seed(0)
    h = build_guidance("vector", (2,), cfg, None)
    x0, ts = d.source_test_x[:1000], (0.3, 0.6, 1.0)
    untrained = _relative_l2(h, cf, x0, ts)
    train_guidance(h, cfg, d.source_x, cf.log_ratio(d.source_x.double()).float(), torch_generator(0), torch.device("cpu"))
    err = _relative_l2(h, cf, x0, ts)
    assert err < 0.08 and err < 0.5 * untrained, (err, untrained)


@pytest.mark.slow
def test_learned_guidance_moves_source_samples_to_target(ctx100):
    """Exact source score + exact log r + learned h_psi through guided_eps: the MMD to q is
    at most 65% of the unguided (source) samples' MMD to q (measured: 0.50).  The guidance
    network regresses log r (``ratio_target="log"``, the published variant): at this test's
    budget the default ratio-space regression leaves grad log h nearly flat (see README).
    With the n = 100 learned classifier in place of the exact r the ratio is not a property
    of the method at this budget: 0.51, 0.55, 0.91, 1.16, 1.56, 1.56 over six nested target
    draws (trials 0-5 of benchmark.design.Design), so it is not asserted."""
    d, cf = ctx100.data, ctx100.data.closed_form
    log_r = cf.log_ratio(d.source_x.double()).float()
    cfg = GuidanceConfig(width=128, depth=3, steps=1500, lr=2e-3, batch=512, ratio_target="log")
    torch.manual_seed(0)
    h = build_guidance("vector", (2,), cfg, None)
    train_guidance(h, cfg, d.source_x, log_r, torch_generator(0), torch.device("cpu"))
    eps = lambda x, t, y: cf.source.eps(x.double(), t.double()).float()  # noqa: E731
    unguided = sample(eps, (2,), 2000, torch_generator(3))
    guided = sample(eps, (2,), 2000, torch_generator(3), grad_log_h=grad_log_of(lambda x, t, y: h.log_h(x, t)))
    ref = d.test_x[:2000]
    m_src, m_tgdp = mmd_to(unguided, ref), mmd_to(guided, ref)
    assert m_tgdp < 0.65 * m_src, (m_tgdp, m_src)


@pytest.mark.slow
def test_balanced_classifier_is_unbiased_where_pooled_is_off_by_m_over_n(tmp_path):
    """At n_target = 10 (m = 4000): E_p[r] = 1 exactly, so the mean of r̂ over held-out
    source samples must be near 1 for the balanced loss and for the corrected pooled loss
    (within a factor 5; measured over five nested target draws: balanced 0.42-0.60, corrected
    pooled 4.40-4.42), while the uncorrected pooled loss is off by about n/m (0.008)."""
    ctx = make_ctx(tmp_path, 10)
    x = ctx.data.source_test_x
    means = {}
    for loss in ("balanced", "pooled", "pooled-uncorrected"):
        clf = domain_classifier(ctx, ClassifierConfig(width=32, depth=2, steps=400, batch=256, loss=loss))
        with torch.no_grad():
            means[loss] = float(clf.log_ratio(x).exp().mean())
    m_over_n = len(ctx.data.source_x) / len(ctx.data.target_x)
    assert 1 / 5 < means["balanced"] < 5, means
    assert 1 / 5 < means["pooled"] < 5, means
    assert means["pooled-uncorrected"] < 10 / m_over_n, means
    assert means["balanced"] / means["pooled-uncorrected"] > m_over_n / 10


@pytest.mark.slow
def test_conditional_tgdp_samples_carry_the_requested_labels(ctx100):
    """Exact conditional source score + learned joint classifier c(x, y) + label-aware h_psi:
    at least 90% of the samples drawn for label k are closest to target component k."""
    d, cf = ctx100.data, ctx100.data.closed_form
    clf = domain_classifier(ctx100, ClassifierConfig(width=64, depth=2, steps=600, batch=256), conditional=True)
    log_r = source_log_ratios(ctx100, clf, conditional=True)
    cfg = GuidanceConfig(width=128, depth=3, steps=1500, lr=2e-3, batch=512, ratio_target="log")
    torch.manual_seed(0)
    h = build_guidance("vector", (2,), cfg, num_classes=2)
    train_guidance(h, cfg, d.source_x, log_r, torch_generator(0), torch.device("cpu"), src_y=d.source_y)
    labels = torch.arange(2).repeat(500)
    eps = lambda x, t, y: cf.source.eps(x.double(), t.double(), y=y).float()  # noqa: E731
    x = sample(eps, (2,), len(labels), torch_generator(4), labels=labels,
               grad_log_h=grad_log_of(lambda x, t, y: h.log_h(x, t, y)))
    nearest = torch.cdist(x.double(), cf.target.means).argmin(1)
    accuracy = float((cf.target.labels[nearest] == labels).double().mean())
    assert accuracy > 0.9, accuracy
