"""ECG metrics: bootstrap classification scores, precision/recall/density/coverage, and the
two registered metrics (downstream utility, feature space) on a tiny ecg-synth task."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from benchmark.artifacts import ArtifactCache
from benchmark.metrics.classification import bootstrap_weights, scores, weighted_auc, with_intervals
from benchmark.metrics.context import EvalContext
from benchmark.metrics.ecg_metrics import ecg_downstream, ecg_features
from benchmark.metrics.prdc import prdc
from benchmark.registry import load_registries


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
    assert real["feature_precision"] > 0.6 and real["feature_recall"] > 0.6 and real["feature_coverage"] > 0.7
    assert real["feature_precision_floor"] > 0.6 and real["feature_recall_floor"] > 0.6
    assert real["feature_label_accuracy"] > 0.5
    source = ecg_features(_ctx(data, data.source_x[:150], None, cache))
    assert source["feature_mmd"] > real["feature_mmd"] + 0.02
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
