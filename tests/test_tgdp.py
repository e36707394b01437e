"""TGDP components against the exact answers of gmm2d.

Tolerances are stated next to each assertion.  The two guidance-quality tests use the quick
suite's budget (about 15 s each on one core); the rest are small.
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
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import batch_index, batch_with_replacement
from benchmark.tgdp.classifier import ClassifierConfig, build_classifier, train_classifier
from benchmark.tgdp.diagnostics import (GRAD_TIMES, gradient_diagnostics, memorisation_score,
                                        ratio_weight_diagnostics)
from benchmark.tgdp.guidance_net import GuidanceConfig, build_guidance, train_guidance
from benchmark.tgdp.stages import domain_classifier, source_log_ratios

GMM = importlib.import_module("benchmark.builtin.datasets.gmm")


def make_ctx(tmp_path: Path, n_target: int, n_source: int = 4000, n_test: int = 2000) -> FitContext:
    task = GMM.GMM2D(GMM.GMMParams(n_target=n_target, n_source=n_source, n_pool=4000, n_test=n_test), 0, 0)
    spec = RunSpec("test", 0, "gmm2d", {"n_target": n_target}, "tgdp", {}, 0)
    data = task.build()
    ctx = FitContext(spec=spec, data=data.train_view(frozenset({"labels", "closed_form"})), cache=ArtifactCache(tmp_path / "artifacts"),
                      device=torch.device("cpu"), seed=lambda *a: derive_seed(0, *map(str, a)),
                      log=logging.getLogger("test"))
    ctx.heldout = data  # the test's own evaluation data (held-out folds, closed forms); never given to a method
    return ctx


def mmd_to(x: torch.Tensor, ref: torch.Tensor) -> float:
    med = median_bandwidth(ref)
    return mmd2_unbiased(x[: len(ref)], ref, [med * f for f in MIX])


@pytest.fixture(scope="module")
def ctx100(tmp_path_factory) -> FitContext:
    return make_ctx(tmp_path_factory.mktemp("tgdp"), 100)


QUICK_GUIDANCE = dict(width=128, depth=3, steps=800, lr=2e-3, batch=256)  # the quick suite's guidance budget


@pytest.fixture(scope="module")
def ctx_full(tmp_path_factory) -> FitContext:
    """gmm2d at its default m = 10,000 source samples (E_p[r^2] in the hundreds), n = 100."""
    return make_ctx(tmp_path_factory.mktemp("tgdp-full"), 100, n_source=10_000, n_test=4000)


def _guidance_quality(ctx: FitContext, log_h) -> tuple[float, float, float]:
    """(cosine of grad log ĥ vs grad log h* at t = 0.05 under q_t, MMD^2 to q of guided
    samples, MMD^2 of unguided samples) with the exact source score and 25 DPM-Solver-2 steps."""
    d, cf = ctx.heldout, ctx.heldout.closed_form
    grad = grad_log_of(log_h)
    diag = gradient_diagnostics(grad, lambda x, t, y: cf.grad_log_h_star(x, t), d.test_x[2000:4000], None, 5, "cpu",
                                times=(0.05,))
    eps = lambda x, t, y: cf.source.eps(x.double(), t.double()).float()  # noqa: E731
    unguided = sample(eps, (2,), 2000, torch_generator(3))
    guided = sample(eps, (2,), 2000, torch_generator(3), grad_log_h=grad)
    ref = d.test_x[:2000]
    return diag["grad_cos_t0.05"], mmd_to(guided, ref), mmd_to(unguided, ref)


@pytest.mark.slow
def test_resampled_logistic_guidance_with_exact_ratio_reaches_h_star(ctx_full):
    """Exact r, exact source score, quick budget (3x128, 800 steps, batch 256): the
    resampled logistic estimator's grad log h points along grad log h* (cosine >= 0.9 at
    t = 0.05; measured 0.97) and its guided samples reach q (MMD^2 <= 0.3x the unguided
    samples'; measured 0.013 vs 0.107).  The l2 estimator at this budget stays flat
    (cosine about 0.08, MMD^2 at the unguided level): this test fails if guidance fails."""
    d, cf = ctx_full.heldout, ctx_full.heldout.closed_form
    cfg = GuidanceConfig(**QUICK_GUIDANCE, guidance_loss="logistic-resampled")
    torch.manual_seed(0)
    h = build_guidance("vector", (2,), cfg, None)
    train_guidance(h, cfg, d.source_x, cf.log_ratio(d.source_x.double()).float(), torch_generator(0),
                   torch.device("cpu"))
    cos, m_guided, m_src = _guidance_quality(ctx_full, lambda x, t, y: h.log_h(x, t))
    assert cos >= 0.9 and m_guided <= 0.3 * m_src, (cos, m_guided, m_src)


@pytest.mark.slow
def test_time_dependent_classifier_guidance_reaches_h_star(ctx_full):
    """tgdp-tclf's guidance -logit c'(x_t, t) from n = 100 target samples, exact source
    score, quick budget: cosine >= 0.9 at t = 0.05 (measured 0.98) and MMD^2 <= 0.3x the
    unguided samples' (measured 0.003 vs 0.107)."""
    cfg = ClassifierConfig(width=128, depth=3, steps=800, lr=2e-3, batch=256)
    clf = domain_classifier(ctx_full, cfg, time=True)
    cos, m_guided, m_src = _guidance_quality(ctx_full, lambda x, t, y: clf.log_ratio(x, t))
    assert cos >= 0.9 and m_guided <= 0.3 * m_src, (cos, m_guided, m_src)


class _BatchSpy(torch.nn.Module):
    """Wraps a scalar net and records the input batches it sees."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net, self.seen = net, []

    def forward(self, x, t=None, y=None):
        self.seen.append(x.detach().clone())
        return self.net(x, t, y)


def test_noised_target_batches_are_full_size_with_fresh_noise(tmp_path):
    """At n = 10 the time-dependent classifier and the cycle regulariser see full batches of
    distinct noised target points (one (t, eps) per draw), not n = 10 of them (the bug: a
    batch was capped at n)."""
    ctx = make_ctx(tmp_path, 10, n_source=1000)
    d = ctx.heldout
    cfg = ClassifierConfig(width=16, depth=2, steps=3, batch=64)
    clf = build_classifier("vector", (2,), cfg, True, None, len(d.source_x), len(d.target_x))
    spy = _BatchSpy(clf.net)
    clf.net = spy
    train_classifier(clf, cfg, d.source_x, d.target_x, torch_generator(0), torch.device("cpu"))
    target_batches = spy.seen[1::2]  # balanced loss: source batch, then target batch
    assert all(len(b) == 64 and len(torch.unique(b, dim=0)) == 64 for b in target_batches)

    gcfg = GuidanceConfig(width=16, depth=2, steps=3, batch=64, eta_cycle=1.0)
    h = build_guidance("vector", (2,), gcfg, None)
    gspy = _BatchSpy(h.net)
    h.net = gspy
    clf.net = spy.net
    train_guidance(h, gcfg, d.source_x, torch.zeros(len(d.source_x)), torch_generator(0), torch.device("cpu"),
                   tgt_x=d.target_x, time_classifier=clf)
    cycle_batches = gspy.seen[1::2]
    assert all(len(b) == 64 and len(torch.unique(b, dim=0)) == 64 for b in cycle_batches)


def test_batch_with_replacement_is_never_capped():
    idx = batch_with_replacement(10, 256, torch_generator(0))
    assert idx.shape == (256,) and int(idx.min()) >= 0 and int(idx.max()) < 10
    assert len(batch_index(10, 256, torch_generator(0))) == 10  # the capped helper, kept for denoisers


def test_ratio_target_is_an_alias_of_guidance_loss():
    """ratio_target=ratio|log resolves to guidance_loss=l2|log (one knob in the record);
    contradicting values are rejected with a message naming guidance_loss."""
    from benchmark.errors import BenchmarkError
    from benchmark.params import params_to_dict, resolve_params
    from benchmark.tgdp.stages import TGDPParams

    assert params_to_dict(resolve_params(TGDPParams, {"ratio_target": "log"})) == \
        params_to_dict(resolve_params(TGDPParams, {"guidance_loss": "log"}))
    assert resolve_params(TGDPParams, {"ratio_target": "ratio"}).guidance_loss == "l2"
    with pytest.raises(BenchmarkError, match="guidance_loss"):
        resolve_params(TGDPParams, {"ratio_target": "log", "guidance_loss": "logistic-resampled"})


def test_gradient_and_weight_diagnostics_against_known_answers(ctx100, caplog):
    """Exact guidance scores cosine 1, norm ratio 1, error 0; zero guidance scores error
    sigma_t^2 E|grad log h*|^2; equal weights give ESS m and mean 1; degenerate weights warn;
    samples equal to the training targets score memorisation 0."""
    d, cf = ctx100.heldout, ctx100.heldout.closed_form
    exact = lambda x, t, y: cf.grad_log_h_star(x.double(), t.double()).float()  # noqa: E731
    star = lambda x, t, y: cf.grad_log_h_star(x, t)  # noqa: E731
    x0 = d.test_x[:500]
    good = gradient_diagnostics(exact, star, x0, None, 1, "cpu")
    assert all(abs(good[f"grad_cos_t{t:g}"] - 1) < 1e-5 and abs(good[f"grad_norm_ratio_t{t:g}"] - 1) < 1e-5
               and good[f"grad_mse_t{t:g}"] < 1e-8 for t in GRAD_TIMES), good
    zero = gradient_diagnostics(lambda x, t, y: torch.zeros_like(x), star, x0, None, 1, "cpu", times=(0.2,))
    sched = VPSchedule()
    xt = sched.noise(x0.double(), torch.full((500,), 0.2, dtype=torch.float64),
                     torch.randn(x0.shape, generator=torch_generator(1), dtype=torch.float64))
    want = float(sched.sigma(torch.tensor([0.2])).pow(2) * cf.grad_log_h_star(xt, torch.full((500,), 0.2)).pow(2).sum(1).mean())
    assert zero["grad_mse_t0.2"] == pytest.approx(want, rel=1e-5) and zero["grad_norm_ratio_t0.2"] == 0.0
    w = ratio_weight_diagnostics(torch.zeros(1000))
    assert w["ratio_ess"] == pytest.approx(1000) and w["ratio_mean"] == pytest.approx(1.0)
    with caplog.at_level(logging.WARNING):
        bad = ratio_weight_diagnostics(torch.tensor([20.0] + [0.0] * 999), logging.getLogger("test"))
    assert bad["ratio_ess"] < 2 and "degenerate" in caplog.text
    assert memorisation_score(d.target_x, d.target_x, d.test_x) == 0.0
    assert 0.7 < memorisation_score(d.test_x[-1000:], d.target_x, d.test_x) < 1.3


@pytest.mark.slow
def test_learned_guidance_moves_source_samples_to_target(ctx100):
    """Exact source score + exact log r + learned h_psi through guided_eps: the MMD to q is
    at most 65% of the unguided (source) samples' MMD to q (measured: 0.50).  The guidance
    network regresses log r (``guidance_loss="log"``, the published variant): at this test's
    budget the default ratio-space regression leaves grad log h nearly flat (see README).
    With the n = 100 learned classifier in place of the exact r the ratio is not a property
    of the method at this budget: 0.51, 0.55, 0.91, 1.16, 1.56, 1.56 over six nested target
    draws (trials 0-5 of benchmark.design.Design), so it is not asserted."""
    d, cf = ctx100.heldout, ctx100.heldout.closed_form
    log_r = cf.log_ratio(d.source_x.double()).float()
    cfg = GuidanceConfig(width=128, depth=3, steps=1500, lr=2e-3, batch=512, guidance_loss="log")
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
    x = ctx.heldout.source_test_x
    means = {}
    for loss in ("balanced", "pooled", "pooled-uncorrected"):
        clf = domain_classifier(ctx, ClassifierConfig(width=32, depth=2, steps=400, batch=256, loss=loss))
        with torch.no_grad():
            means[loss] = float(clf.log_ratio(x).exp().mean())
    m_over_n = len(ctx.heldout.source_x) / len(ctx.heldout.target_x)
    assert 1 / 5 < means["balanced"] < 5, means
    assert 1 / 5 < means["pooled"] < 5, means
    assert means["pooled-uncorrected"] < 10 / m_over_n, means
    assert means["balanced"] / means["pooled-uncorrected"] > m_over_n / 10


@pytest.mark.slow
def test_conditional_tgdp_samples_carry_the_requested_labels(ctx100):
    """Exact conditional source score + learned joint classifier c(x, y) + label-aware h_psi:
    at least 90% of the samples drawn for label k are closest to target component k."""
    d, cf = ctx100.heldout, ctx100.heldout.closed_form
    clf = domain_classifier(ctx100, ClassifierConfig(width=64, depth=2, steps=600, batch=256), conditional=True)
    log_r = source_log_ratios(ctx100, clf, conditional=True)
    cfg = GuidanceConfig(width=128, depth=3, steps=1500, lr=2e-3, batch=512, guidance_loss="log")
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


def test_classifier_input_noise_tames_the_ratio_at_n10(tmp_path):
    """At n = 10 (trial 0, the quick classifier 2x64, 600 steps) the unregularised classifier's
    r̂ is degenerate: its importance weights over the 10,000 source samples have ESS < 100
    (measured on the nested trial-0 draw: 30); input noise 0.3 spreads them (measured: ESS
    3,840).  Its squared log-ratio error is not asserted: it depends on the draw (measured
    3.7 -> 7.8 on this draw, 41 -> 2.9 on the earlier per-n draw), so input noise is a
    weight-variance fix, not a guaranteed accuracy gain; the extended suite's ablation rows
    measure what it does to the samples."""
    ctx = make_ctx(tmp_path, 10, n_source=10_000)
    d, cf = ctx.heldout, ctx.heldout.closed_form
    x = torch.cat([d.source_test_x[:2000], d.test_x[:2000]])
    out = {}
    for noise in (0.0, 0.3):
        cfg = ClassifierConfig(width=64, depth=2, steps=600, batch=256, input_noise=noise)
        torch.manual_seed(0)
        clf = build_classifier("vector", (2,), cfg, False, None, len(d.source_x), 10)
        train_classifier(clf, cfg, d.source_x, d.target_x, torch_generator(0), torch.device("cpu"))
        with torch.no_grad():
            err = float((clf.log_ratio(x).double() - cf.log_ratio(x.double())).pow(2).mean())
            out[noise] = (err, ratio_weight_diagnostics(clf.log_ratio(d.source_x))["ratio_ess"])
    assert out[0.3][1] > 100 > out[0.0][1] and out[0.3][1] > 10 * out[0.0][1], out


class _TrainSpy(_BatchSpy):
    def forward(self, x, t=None, y=None):
        if torch.is_grad_enabled():
            self.seen.append(x.detach().clone())
        return self.net(x, t, y)


def test_early_stopping_trains_on_the_split_only(tmp_path):
    """val_frac = 0.3 at n = 10: the training batches hold 7 of the 10 target samples (the 3
    others are the held-out split the stopping rule scores; none of them leaks into training)."""
    ctx = make_ctx(tmp_path, 10, n_source=1000)
    d = ctx.heldout
    cfg = ClassifierConfig(width=16, depth=2, steps=60, batch=64, val_frac=0.3, val_every=10)
    clf = build_classifier("vector", (2,), cfg, False, None, len(d.source_x), 10)
    spy = _TrainSpy(clf.net)
    clf.net = spy
    train_classifier(clf, cfg, d.source_x, d.target_x, torch_generator(0), torch.device("cpu"))
    seen_targets = torch.unique(torch.cat(spy.seen[1::2]), dim=0)
    assert len(seen_targets) == 7
    assert all(bool((d.target_x == row).all(1).any()) for row in seen_targets)
