"""Multi-class classification scores with percentile-bootstrap 95% intervals.

For a test fold with labels y_i in {0..K-1} and predicted probabilities P_ik, the scores
are computed from per-sample weights w_i (all 1 for the point estimate; bootstrap
resampling counts for the intervals), so B resamples are evaluated at once:

    accuracy  = sum_i w_i [argmax_k P_ik = y_i] / sum_i w_i
    macro-AUC = mean_c AUC_c,  AUC_c = sum_{i pos, j neg} w_i w_j ([P_ic > P_jc] + 1/2 [P_ic = P_jc])
                                      / (sum_pos w_i  sum_neg w_j)              (one-vs-rest)
    with TP_c, FP_c, FN_c the weighted counts of the argmax prediction vs class c:
    macro-F1  = mean_c 2 TP / (2 TP + FP + FN)
    F_beta=2  = mean_c (1 + b^2) TP / ((1 + b^2) TP + FP + b^2 FN),  b = 2
    G_beta=2  = mean_c TP / (TP + FP + b FN),                        b = 2

F_beta and G_beta are the PhysioNet/CinC-2020-style metrics reported for ICBEB in the
PTB-XL benchmark (Strodthoff et al. 2020, ``challenge_metrics``); with one label per
record their per-sample weight 1/|labels| is 1, and the binary predictions are the
one-hot argmax.  Class means run over the classes present in the test fold.  As in that
benchmark, a bootstrap resample is kept only if every such class has a positive in it;
the interval is the 2.5/97.5 percentile of the resampled scores.
"""

from __future__ import annotations

import numpy as np

SCORES = ("auc", "accuracy", "f1", "fbeta2", "gbeta2")
BETA = 2.0


def bootstrap_weights(y: np.ndarray, n_boot: int, rng: np.random.Generator, batch: int = 256) -> np.ndarray:
    """(n_boot, n) resampling counts of the n test records; every class present in y keeps
    at least one record in every resample (resamples that lose one are redrawn)."""
    y = np.asarray(y)
    n = len(y)
    classes = np.unique(y)
    onehot = (y[:, None] == classes[None, :]).astype(np.float64)
    kept: list[np.ndarray] = []
    total = 0
    while total < n_boot:
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=batch).astype(np.float64)
        ok = (w @ onehot).min(axis=1) > 0
        kept.append(w[ok])
        total += int(ok.sum())
    return np.concatenate(kept)[:n_boot]


def weighted_auc(score: np.ndarray, positive: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AUC of ``score`` (n,) for the binary labels ``positive`` (n,) under weights w: (B, n) -> (B,)."""
    order = np.argsort(score, kind="stable")
    s, pos, ws = score[order], positive[order], w[:, order]
    neg_w = ws * (~pos)
    cum = np.concatenate([np.zeros((len(w), 1)), np.cumsum(neg_w, axis=1)], axis=1)  # (B, n+1)
    lo, hi = np.searchsorted(s, s, "left"), np.searchsorted(s, s, "right")
    below, equal = cum[:, lo], cum[:, hi] - cum[:, lo]
    pos_w = ws * pos
    num = (pos_w * (below + 0.5 * equal)).sum(axis=1)
    den = pos_w.sum(axis=1) * neg_w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def scores(probs: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The five scores of probs: (n, K) against labels y: (n,), for weights w: (B, n) -> each (B,)."""
    probs, y = np.asarray(probs, dtype=np.float64), np.asarray(y)
    if w is None:
        w = np.ones((1, len(y)))
    classes = np.unique(y)
    pred = probs.argmax(axis=1)
    total = w.sum(axis=1)
    out = {"accuracy": (w * (pred == y)).sum(axis=1) / total}
    aucs, f1, fb, gb = [], [], [], []
    for c in classes:
        is_c, pred_c = y == c, pred == c
        aucs.append(weighted_auc(probs[:, c], is_c, w))
        tp = (w * (is_c & pred_c)).sum(axis=1)
        fp = (w * (~is_c & pred_c)).sum(axis=1)
        fn = (w * (is_c & ~pred_c)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1.append(np.nan_to_num(2 * tp / (2 * tp + fp + fn)))
            fb.append(np.nan_to_num((1 + BETA**2) * tp / ((1 + BETA**2) * tp + fp + BETA**2 * fn)))
            gb.append(np.nan_to_num(tp / (tp + fp + BETA * fn)))
    out["auc"] = np.nanmean(np.stack(aucs), axis=0)
    out["f1"], out["fbeta2"], out["gbeta2"] = (np.mean(np.stack(v), axis=0) for v in (f1, fb, gb))
    return out


def with_intervals(probs: np.ndarray, y: np.ndarray, boot: np.ndarray, prefix: str) -> dict[str, float]:
    """``{prefix}_{score}``, ``..._lo``, ``..._hi`` for every score (point estimate and 95% interval)."""
    point, resampled = scores(probs, y), scores(probs, y, boot)
    out: dict[str, float] = {}
    for name in SCORES:
        lo, hi = np.percentile(resampled[name], [2.5, 97.5])
        out.update({f"{prefix}_{name}": float(point[name][0]), f"{prefix}_{name}_lo": float(lo),
                    f"{prefix}_{name}_hi": float(hi)})
    return out


def paired_gain(probs_a: np.ndarray, probs_b: np.ndarray, y: np.ndarray, boot: np.ndarray,
                prefix: str) -> dict[str, float]:
    """Score(a) - score(b) on the same test records, with a paired bootstrap 95% interval."""
    pa, pb = scores(probs_a, y), scores(probs_b, y)
    ra, rb = scores(probs_a, y, boot), scores(probs_b, y, boot)
    out: dict[str, float] = {}
    for name in SCORES:
        lo, hi = np.percentile(ra[name] - rb[name], [2.5, 97.5])
        out.update({f"{prefix}_{name}": float(pa[name][0] - pb[name][0]), f"{prefix}_{name}_lo": float(lo),
                    f"{prefix}_{name}_hi": float(hi)})
    return out
