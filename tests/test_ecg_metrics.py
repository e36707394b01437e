"""ECG metrics: bootstrap classification scores, precision/recall/density/coverage, the
Fréchet and per-lead spectral distances, and the registered metrics (downstream utility,
feature space, spectrum) on a tiny ecg-synth task."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from benchmark.artifacts import ArtifactCache
from benchmark.metrics.classification import bootstrap_weights, scores, weighted_auc, with_intervals
from benchmark.metrics.context import EvalContext
from benchmark.metrics.ecg_metrics import ECG_METRICS, ecg_downstream, ecg_features, ecg_spectrum
from benchmark.metrics.frechet import frechet_distance, frechet_from_moments
from benchmark.metrics.prdc import prdc
from benchmark.metrics.spectrum import psd_distance
from benchmark.registry import load_registries
from benchmark.report.agreement import agreement_metrics
from benchmark.report.metric_info import direction
from benchmark.suites import SMOKE_ECG_TASK


def _toy(n: int = 300, k: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs, y


def _challenge_reference(probs, y, beta=2.0):
    """F_beta / G_beta of the PTB-XL benchmark, written out with loops (one label per record)."""
    k = probs.shape[1]
    pred = probs.argmax(1)
    f_b = g_b = 0.0
    for c in range(k):
        tp = sum(1.0 for t, p in zip(y, pred) if t == c and p == c)
        fp = sum(1.0 for t, p in zip(y, pred) if t != c and p == c)
        fn = sum(1.0 for t, p in zip(y, pred) if t == c and p != c)
        f_b += (1 + beta**2) * tp / ((1 + beta**2) * tp + fp + beta**2 * fn)
        g_b += tp / (tp + fp + beta * fn)
    return f_b / k, g_b / k


def test_point_scores_match_sklearn_and_the_ptbxl_definitions():
    probs, y = _toy()
    s = {k: float(v[0]) for k, v in scores(probs, y).items()}
    assert s["auc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    assert s["accuracy"] == pytest.approx(accuracy_score(y, probs.argmax(1)))
    assert s["f1"] == pytest.approx(f1_score(y, probs.argmax(1), average="macro"))
    f_b, g_b = _challenge_reference(probs, y)
    assert s["fbeta2"] == pytest.approx(f_b) and s["gbeta2"] == pytest.approx(g_b)


def test_weighted_auc_equals_the_auc_of_the_repeated_sample():
    rng = np.random.default_rng(1)
    score = np.round(rng.normal(size=80), 1)  # ties on purpose
    pos = rng.random(80) < 0.4
    counts = rng.integers(0, 4, size=80)
    counts[np.flatnonzero(pos)[0]] = counts[np.flatnonzero(~pos)[0]] = 1
    got = weighted_auc(score, pos, counts[None].astype(float))[0]
    assert got == pytest.approx(roc_auc_score(np.repeat(pos, counts), np.repeat(score, counts)))


def test_bootstrap_keeps_every_class_and_intervals_contain_the_estimate():
    probs, y = _toy(n=200, k=5, seed=2)
    w = bootstrap_weights(y, 300, np.random.default_rng(0))
    assert w.shape == (300, 200) and np.all(w.sum(1) == 200)
    assert np.all((w @ (y[:, None] == np.arange(5)[None])).min(1) > 0)
    out = with_intervals(probs, y, w, "d")
    for name in ("auc", "accuracy", "f1", "fbeta2", "gbeta2"):
        assert out[f"d_{name}_lo"] <= out[f"d_{name}"] <= out[f"d_{name}_hi"]
        assert out[f"d_{name}_hi"] - out[f"d_{name}_lo"] < 0.3


def _prdc_reference(real, fake, k):
    def radius(x):
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return np.sort(d, axis=1)[:, k]
    r_real, r_fake = radius(real), radius(fake)
    d = np.linalg.norm(real[:, None] - fake[None], axis=-1)
    precision = np.mean([any(d[i, j] < r_real[i] for i in range(len(real))) for j in range(len(fake))])
    recall = np.mean([any(d[i, j] < r_fake[j] for j in range(len(fake))) for i in range(len(real))])
    density = np.mean([sum(d[i, j] < r_real[i] for i in range(len(real))) for j in range(len(fake))]) / k
    coverage = np.mean([d[i].min() < r_real[i] for i in range(len(real))])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def test_prdc_matches_the_definitions_and_separates_distributions():
    rng = np.random.default_rng(3)
    real, same, shifted = rng.normal(size=(60, 4)), rng.normal(size=(50, 4)), rng.normal(size=(50, 4)) + 3.0
    got = prdc(torch.tensor(real), torch.tensor(same), k=5)
    ref = _prdc_reference(real, same, 5)
    assert got == pytest.approx(ref)
    big_real, big_same = torch.randn(400, 8, generator=torch.Generator().manual_seed(0)), \
        torch.randn(400, 8, generator=torch.Generator().manual_seed(1))
    same_dist = prdc(big_real, big_same, k=5)
    assert same_dist["precision"] > 0.8 and same_dist["recall"] > 0.8
    assert 0.8 < same_dist["density"] < 1.2 and same_dist["coverage"] > 0.9
    far = prdc(torch.tensor(real), torch.tensor(shifted), k=5)
    assert far["precision"] < 0.2 and far["coverage"] < 0.2


def test_frechet_distance_of_a_sample_to_itself_is_zero_and_matches_the_gaussian_closed_form():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(torch.tensor(x), torch.tensor(x)) == pytest.approx(0.0, abs=1e-8)
    # diagonal covariances: FD = |m1 - m2|^2 + sum (s1 - s2)^2 (s the standard deviations)
    m1, m2 = np.array([0.0, 1.0, -1.0, 2.0]), np.array([0.5, 1.0, 0.0, 1.0])
    s1, s2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([1.5, 1.0, 0.5, 3.0])
    exact = float(((m1 - m2) ** 2).sum() + ((s1 - s2) ** 2).sum())
    a, b = m1 + s1 * rng.normal(size=(40000, 4)), m2 + s2 * rng.normal(size=(40000, 4))
    assert frechet_distance(a, b) == pytest.approx(exact, rel=0.02)
    # full covariances: the moments formula against the sample estimate
    la, lb = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    ca, cb = la @ la.T + 0.1 * np.eye(3), lb @ lb.T + 0.1 * np.eye(3)
    ma, mb = rng.normal(size=3), rng.normal(size=3)
    exact = frechet_from_moments(ma, ca, mb, cb)
    a = rng.multivariate_normal(ma, ca, size=40000)
    b = rng.multivariate_normal(mb, cb, size=40000)
    assert exact > 1.0 and frechet_distance(a, b) == pytest.approx(exact, rel=0.03)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 exactly from the moments
    assert frechet_from_moments(np.array([1.0]), np.array([[4.0]]), np.array([0.0]), np.array([[1.0]])) == \
        pytest.approx(2.0)


def test_frechet_distance_of_singular_covariances_is_finite_and_non_negative():
    rng = np.random.default_rng(5)
    x = np.c_[rng.normal(size=(30, 3)), np.zeros((30, 5))]  # rank-deficient features, d > rank
    y = np.c_[rng.normal(size=(30, 3)) + 0.1, np.zeros((30, 5))]
    fd = frechet_distance(x, y)
    assert np.isfinite(fd) and fd >= 0.0
    assert frechet_distance(x, x) >= 0.0


def _records(n=200, leads=8, length=256, seed=6):
    """Noisy sinusoid-plus-pulse records at 100 Hz with energy across the band."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 100.0
    f0 = rng.uniform(0.8, 2.0, size=(n, leads, 1))
    x = np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(2 * np.pi * 7 * f0 * t) ** 9
    return x + 0.1 * rng.normal(size=(n, leads, length))


def test_psd_distance_is_zero_for_identical_sets_and_grows_with_filtering_or_noise():
    from scipy import signal

    x = _records()
    assert psd_distance(x, x, 100.0) == 0.0
    floor = psd_distance(_records(seed=7), x, 100.0)
    lowpassed = signal.filtfilt(*signal.butter(4, 10.0, fs=100.0), x, axis=-1)
    noisy = x + 0.5 * np.random.default_rng(8).normal(size=x.shape)
    d_low, d_noise = psd_distance(lowpassed, x, 100.0), psd_distance(noisy, x, 100.0)
    assert floor < 0.1 and d_low > 5 * floor and d_noise > 5 * floor
    # fs only labels the frequencies: the density scale cancels in the log difference
    assert psd_distance(noisy, x, 500.0) == pytest.approx(d_noise)
    # a silent record set is far, but finite (the PSD is floored)
    assert np.isfinite(psd_distance(np.zeros_like(x), x, 100.0))
    with pytest.raises(ValueError):
        psd_distance(x[:, :4], x, 100.0)
    # records shorter than 128 samples: one Welch segment of the whole record
    assert psd_distance(x[..., :40], x[..., :40], 100.0) == 0.0


@pytest.fixture(scope="module")
def tiny_ecg(tmp_path_factory):
    regs = load_registries()
    task_cls = regs.tasks.get("ecg-synth")
    prm = task_cls.Params(n_target=40, n_source=100, n_pool=400, n_test=300, n_val=20, n_eval=150, length=64,
                          clf_width=8, clf_steps=60, feature_steps=120, n_boot=200)
    return task_cls(prm, 0, 0).build(), ArtifactCache(tmp_path_factory.mktemp("ecg-metrics") / "artifacts")


def _ctx(data, samples, labels, cache, seed=0):
    return EvalContext(data=data, samples=samples, labels=labels, seed=seed, device=torch.device("cpu"), cache=cache)


def test_feature_metrics_real_vs_real_is_at_the_floor_and_source_is_not(tiny_ecg):
    data, cache = tiny_ecg
    real = ecg_features(_ctx(data, data.oracle_x[:150], data.oracle_y[:150], cache))
    assert real["feature_mmd"] < real["feature_mmd_floor"] + 0.02
    assert 0 <= real["feature_fd"] < 2 * real["feature_fd_floor"]
    assert real["feature_precision"] > 0.6 and real["feature_recall"] > 0.6 and real["feature_coverage"] > 0.7
    assert real["feature_precision_floor"] > 0.6 and real["feature_recall_floor"] > 0.6
    assert real["feature_label_accuracy"] > 0.5
    source = ecg_features(_ctx(data, data.source_x[:150], None, cache))
    assert source["feature_mmd"] > real["feature_mmd"] + 0.02
    assert source["feature_fd"] > 2 * real["feature_fd"]
    assert "feature_label_accuracy" not in source
    assert [s for s in cache.builds if s.startswith("ecg-feature-classifier")] != []
    assert len([s for s in cache.builds if s.startswith("ecg-feature-classifier")]) == 1  # built once, reused


def test_downstream_utility_keys_intervals_and_method_independent_seeding(tiny_ecg):
    data, cache = tiny_ecg
    labelled = ecg_downstream(_ctx(data, data.oracle_x[40:190], data.oracle_y[40:190], cache, seed=1))
    for prefix in ("downstream", "downstream_real", "downstream_gain"):
        for name in ("auc", "accuracy", "f1", "fbeta2", "gbeta2"):
            v, lo, hi = (labelled[f"{prefix}_{name}{s}"] for s in ("", "_lo", "_hi"))
            assert np.isfinite([v, lo, hi]).all() and lo <= v <= hi
    assert labelled["downstream_pseudo_labels"] == 0.0
    # more real labelled target records help: the pipeline measures utility
    assert labelled["downstream_gain_auc"] > 0 and labelled["downstream_auc"] > labelled["downstream_real_auc"]
    # a different run seed (another method) is scored by the same classifiers on the same resamples
    again = ecg_downstream(_ctx(data, data.oracle_x[40:190], data.oracle_y[40:190], cache, seed=99))
    assert again == labelled
    unlabelled = ecg_downstream(_ctx(data, data.source_x[:150], None, cache))
    assert unlabelled["downstream_pseudo_labels"] == 1.0
    assert unlabelled["downstream_real_auc"] == labelled["downstream_real_auc"]


def test_downstream_without_cache_matches_cached(tiny_ecg):
    data, cache = tiny_ecg
    small = dataclasses.replace(data, extras={**data.extras})
    a = ecg_downstream(_ctx(small, data.source_x[:30], None, None))
    b = ecg_downstream(_ctx(small, data.source_x[:30], None, cache))
    assert a == b


def test_spectrum_metric_floor_identity_and_shift(tiny_ecg):
    data, cache = tiny_ecg
    m = len(data.source_x)  # 100 records: m is the same for every sample set below
    same = ecg_spectrum(_ctx(data, data.test_x[:m], None, cache))
    assert same["psd_distance"] == 0.0 and same["psd_distance_floor"] > 0
    real = ecg_spectrum(_ctx(data, data.oracle_x[:m], data.oracle_y[:m], cache))
    source = ecg_spectrum(_ctx(data, data.source_x[:m], None, cache))
    assert real["psd_distance"] < 3 * real["psd_distance_floor"]
    assert source["psd_distance"] > real["psd_distance"]
    assert real["psd_distance_floor"] == source["psd_distance_floor"]
    # 12-lead samples are compared with the 12 reconstructed leads of the test records
    from benchmark.ecg.leads import reconstruct_12
    assert ecg_spectrum(_ctx(data, reconstruct_12(data.test_x[:m]), None, cache))["psd_distance"] == \
        pytest.approx(0.0, abs=1e-6)  # float32 vs float64 reconstruction


def test_new_ecg_metrics_are_finite_on_the_smoke_sizes_and_in_the_task_metrics(tmp_path):
    regs = load_registries()
    task_cls = regs.tasks.get("ecg-synth")
    data = task_cls(task_cls.Params(n_target=20, **SMOKE_ECG_TASK), 0, 0).build()
    assert task_cls.metrics == ECG_METRICS and "ecg_spectrum" in ECG_METRICS
    assert regs.tasks.get("ptbxl-icbeb").metrics == ECG_METRICS
    assert regs.metrics.entry("ecg_spectrum").description.startswith("per-lead Welch PSD")
    cache = ArtifactCache(tmp_path / "artifacts")
    n = SMOKE_ECG_TASK["n_eval"]
    fake = data.source_x[:n] + 0.3 * torch.randn(n, *data.source_x.shape[1:], generator=torch.Generator().manual_seed(0))
    out = {**ecg_features(_ctx(data, fake, None, cache)), **ecg_spectrum(_ctx(data, fake, None, cache))}
    for key in ("feature_fd", "feature_fd_floor", "psd_distance", "psd_distance_floor"):
        assert np.isfinite(out[key]) and out[key] >= 0, key
    assert out["feature_fd"] > out["feature_fd_floor"] and out["psd_distance"] > out["psd_distance_floor"]


def test_report_ranks_the_new_keys_and_the_ecg_agreement_view_lists_them():
    assert direction("feature_fd") == "min" and direction("psd_distance") == "min"
    assert direction("feature_fd_floor") is None and direction("psd_distance_floor") is None
    keys = ["downstream_auc", "feature_mmd", "feature_fd", "feature_fd_floor", "psd_distance", "feature_precision",
            "feature_recall"]
    for task in ("ecg-synth", "ptbxl-icbeb"):
        got = agreement_metrics(task, keys)
        assert got[0] == "downstream_auc" and "feature_fd" in got and "psd_distance" in got
        assert "feature_fd_floor" not in got
