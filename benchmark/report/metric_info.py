"""The one declared table of metric directions, and how metric keys are read.

A record's ``metrics`` dict maps keys to floats.  A key ending in ``_lo`` / ``_hi`` whose
stem is also a key is that metric's bootstrap interval (e.g. ``downstream_auc_lo``); the
report folds it into the stem's row (columns ``lo`` / ``hi``) instead of treating it as a
metric of its own.

Direction: ``"min"`` (lower is better), ``"max"`` (higher is better) or ``None`` (not
ranked: a reference value such as ``mmd_floor``, or a metric this table does not know).
Rules are tried in order; the first whose pattern matches the whole key wins.
"""

from __future__ import annotations

import fnmatch
from typing import Iterable, Mapping, Optional

INTERVAL_SUFFIXES = ("_lo", "_hi")

# (pattern, direction, headline): headline metrics form a task's main table.
METRIC_RULES: tuple[tuple[str, Optional[str], bool], ...] = (
    ("*_floor", None, False),              # two held-out halves: what "perfect" scores
    ("downstream_real_*", None, False),    # the classifier trained on real records: a reference
    ("downstream_pseudo_labels", None, False),
    ("trainable_params", None, False),
    ("c2st_null_hi", None, False),         # the upper end of C2ST's 95 % null interval: a reference
    ("c2st_accuracy", "min", False),       # 0.5 = indistinguishable from held-out target samples
    ("energy_distance", "min", False),
    ("mmd_pvalue", "max", False),          # permutation p-value of MMD^2: high = no detectable difference
    ("mmd", "min", True),
    ("mmd_*", "min", False),
    ("*_mmd", "min", False),
    ("feature_fd", "min", False),          # Fréchet distance in the ECG feature classifier's embedding
    ("psd_distance", "min", False),        # per-lead log10 Welch PSD distance (ECG)
    ("density_error", "min", True),
    ("logq_gap", "min", False),
    ("sliced_wasserstein", "min", True),
    ("ratio_error", "min", False),
    ("guidance_error", "min", False),      # legacy records only (replaced by the grad_* diagnostics)
    ("grad_cos_*", "max", False),          # cosine of grad log ĥ vs grad log h* at one t (1 = right direction)
    ("grad_mse_*", "min", False),          # sigma_t^2 E|grad log ĥ - grad log h*|^2 at one t
    ("grad_norm_ratio_*", None, False),    # |grad log ĥ| / |grad log h*|: 1 is right, neither side better
    ("ratio_ess", None, False),            # ESS of r̂ over source samples: a property of the weights
    ("ratio_mean", None, False),           # mean r̂ over source samples: about 1 is right
    ("memorisation", None, False),         # about 1 generalises, below 1 memorises; above 1 is not better
    ("classifier_ece", "min", False),
    ("*ece", "min", False),
    ("classifier_accuracy", "max", False),
    ("downstream_auc", "max", True),
    ("*macro_auc*", "max", True),
    ("*gain*", "max", False),              # improvement over the real-data classifier
    ("feature_precision", "max", True),    # fidelity and diversity (Naeem et al. 2020)
    ("feature_recall", "max", True),
    ("*auc*", "max", False),
    ("*accuracy*", "max", False),
    ("*f1*", "max", False),
    ("*precision*", "max", False),
    ("*recall*", "max", False),
    ("*density", "max", False),           # feature-space density (Naeem et al. 2020)
    ("*coverage*", "max", False),
    ("*f_beta*", "max", False),
    ("*fbeta*", "max", False),
    ("*gbeta*", "max", False),
    ("g_*", "max", False),
    ("f_*", "max", False),
)

# Methods that are reference bounds rather than competitors: shown, never bolded.
REFERENCE_PATTERNS = ("*oracle*",)


def _rule(metric: str) -> Optional[tuple[str, Optional[str], bool]]:
    for rule in METRIC_RULES:
        if fnmatch.fnmatchcase(metric, rule[0]):
            return rule
    return None


def direction(metric: str) -> Optional[str]:
    """``"min"``, ``"max"`` or ``None`` (not ranked) for a metric key."""
    rule = _rule(metric)
    return None if rule is None else rule[1]


def is_headline(metric: str) -> bool:
    rule = _rule(metric)
    return bool(rule and rule[2])


def is_reference_method(method: str) -> bool:
    return any(fnmatch.fnmatchcase(method, p) for p in REFERENCE_PATTERNS)


def split_interval_key(key: str, keys: Iterable[str]) -> tuple[str, Optional[str]]:
    """``("downstream_auc", "lo")`` for ``downstream_auc_lo`` when ``downstream_auc`` is
    among ``keys``; otherwise ``(key, None)``."""
    present = set(keys)
    for suffix in INTERVAL_SUFFIXES:
        if key.endswith(suffix) and key[: -len(suffix)] in present:
            return key[: -len(suffix)], suffix[1:]
    return key, None


def fold_metrics(metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """``{stem: {"value": v, "lo": l, "hi": h}}`` with the interval keys folded in."""
    out: dict[str, dict[str, float]] = {}
    for key in sorted(metrics):
        stem, part = split_interval_key(key, metrics)
        out.setdefault(stem, {})[part or "value"] = float(metrics[key])
    return out


def direction_word(metric: str) -> str:
    d = direction(metric)
    return {"min": "lower is better", "max": "higher is better"}.get(d or "", "not ranked")
