"""ECG metrics: the downstream utility test, quality/diversity in a fixed feature space and
the per-lead spectral distance.

All work on any task with ``kind == "ecg"``: records x: (N, 8, L) (leads I, II, V1-V6)
are turned into the 12 standard leads with ``reconstruct_12`` before any classifier sees
them.  The held-out target test fold (``test_x``, ``test_y``) is used for scoring only.
The evaluation budget comes from ``data.extras["ecg_eval"]`` (an :class:`ECGEvalConfig`,
set by the task) or the defaults.

Every classifier here is seeded from the *data* (hashes of the records it is trained on)
and the suite seed, never from the method, so every method is scored by the same
classifiers, trained from the same initialisation on the same mini-batch stream; the
bootstrap resamples of the test fold are the same for every method as well.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from benchmark.ecg.classifier import ECGClassifierConfig, ResNet1d, features, predict_proba, train_classifier
from benchmark.ecg.leads import SAMPLE_RATE_HZ, reconstruct_12
from benchmark.metrics.classification import bootstrap_weights, paired_gain, with_intervals
from benchmark.metrics.context import EvalContext
from benchmark.metrics.frechet import frechet_distance
from benchmark.metrics.kernels import MIX, median_bandwidth, mmd2_unbiased
from benchmark.metrics.prdc import prdc
from benchmark.metrics.spectrum import psd_distance
from benchmark.registry import register_metric
from benchmark.seeding import derive_seed, numpy_rng
from benchmark.spec import short_hash

ECG_METRICS = ("ecg_downstream", "ecg_features", "ecg_spectrum")
EVAL_KEY = "ecg_eval"


@dataclass(frozen=True)
class ECGEvalConfig:
    """Budgets of the ECG evaluation.

    Attributes:
        downstream: the utility-test classifier (trained twice per n_target: real only,
            cached; real + generated, per run).
        feature: the fixed feature classifier trained on the target pool (cached).
        n_boot: bootstrap resamples of the test fold.
        k: the k of the k-NN balls of precision/recall/density/coverage.
    """

    downstream: ECGClassifierConfig = field(default_factory=lambda: ECGClassifierConfig(width=16, steps=150))
    feature: ECGClassifierConfig = field(default_factory=lambda: ECGClassifierConfig(width=16, steps=400))
    n_boot: int = 1000
    k: int = 5

    def __post_init__(self) -> None:
        if self.n_boot < 10 or self.k < 1:
            raise ValueError("n_boot must be >= 10 and k >= 1")


def eval_config_from_params(params: Any) -> ECGEvalConfig:
    """The evaluation budget of an ECG task's Params (fields ``clf_width``, ``clf_steps``,
    ``feature_steps``, ``n_boot``); raises ValueError for values out of range."""
    if min(params.clf_width, params.clf_steps, params.feature_steps) < 1 or params.n_boot < 10:
        raise ValueError("clf_width, clf_steps and feature_steps must be >= 1 and n_boot >= 10")
    return ECGEvalConfig(downstream=ECGClassifierConfig(width=params.clf_width, steps=params.clf_steps),
                         feature=ECGClassifierConfig(width=params.clf_width, steps=params.feature_steps),
                         n_boot=params.n_boot)


def check_eval_sizes(task: str, cfg: ECGEvalConfig, test_fold: str, n_test: int, n_eval: int) -> None:
    """Fail before any training when the held-out data cannot give the ECG metrics.

    ``ecg_features`` splits the test fold into two halves of m = min(n_eval, n_test // 2)
    records and computes precision/recall/density/coverage with k-NN balls, which need more
    than k records on each side: n_test >= 2 (k + 1) and n_eval >= k + 1.

    Raises:
        BenchmarkError: one line naming the fold (``test_fold``), its size and the minimum.
    """
    from benchmark.errors import BenchmarkError

    need = 2 * (cfg.k + 1)
    if n_test < need:
        raise BenchmarkError(f"{task}: the {test_fold} has {n_test} records, the ECG feature metrics need at least "
                             f"{need} (two halves of more than k={cfg.k} for precision/recall/density/coverage); "
                             "use a data set with a larger held-out test fold")
    if n_eval <= cfg.k:
        raise BenchmarkError(f"{task}: n_eval={n_eval} generated samples, the ECG feature metrics need more than "
                             f"k={cfg.k}; pass a larger n_eval")


def eval_config(ctx: EvalContext) -> ECGEvalConfig:
    return ctx.data.extras.get(EVAL_KEY) or ECGEvalConfig()


def digest(*tensors: torch.Tensor | None) -> str:
    """SHA-256 prefix of the tensors' bytes (names a training set in a cache key)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(b"none" if t is None else t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _cached(ctx: EvalContext, stage: str, key: dict[str, Any], build: Callable[[], Any]) -> Any:
    return build() if ctx.cache is None else ctx.cache.get_or_build(stage, key, build)


def _state(model: ResNet1d) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def _load(state: dict[str, torch.Tensor], cfg: ECGClassifierConfig, num_classes: int, device) -> ResNet1d:
    model = ResNet1d(12, num_classes, cfg.width)
    model.load_state_dict(state)
    return model.to(device).eval()


def _num_classes(ctx: EvalContext) -> int:
    if ctx.data.num_classes is None or ctx.data.test_y is None:
        raise ValueError("ECG metrics need a labelled task (num_classes, test_y)")
    return int(ctx.data.num_classes)


def feature_classifier(ctx: EvalContext, cfg: ECGEvalConfig) -> ResNet1d:
    """The fixed classifier trained on the real target pool (``oracle_x``); a cached stage."""
    d, k = ctx.data, _num_classes(ctx)
    key = {"pool": digest(d.oracle_x, d.oracle_y), "config": asdict(cfg.feature), "classes": k,
           "suite_seed": ctx.suite_seed}
    seed = derive_seed(ctx.suite_seed, "eval", "ecg-feature-classifier", short_hash(key))
    payload = _cached(ctx, "ecg-feature-classifier", key, lambda: {"state": _state(train_classifier(
        reconstruct_12(d.oracle_x), d.oracle_y, k, cfg.feature, seed, ctx.device))})
    return _load(payload["state"], cfg.feature, k, ctx.device)


def _downstream_seed(ctx: EvalContext) -> int:
    return derive_seed(ctx.suite_seed, "eval", "ecg-downstream", digest(ctx.data.target_x, ctx.data.target_y))


def real_only_classifier(ctx: EvalContext, cfg: ECGEvalConfig) -> tuple[ResNet1d, torch.Tensor]:
    """The downstream classifier on the n real target records and its test probabilities (cached)."""
    d, k = ctx.data, _num_classes(ctx)
    key = {"target": digest(d.target_x, d.target_y), "test": digest(d.test_x, d.test_y),
           "config": asdict(cfg.downstream), "classes": k, "suite_seed": ctx.suite_seed}

    def build() -> dict[str, Any]:
        model = train_classifier(reconstruct_12(d.target_x), d.target_y, k, cfg.downstream, _downstream_seed(ctx),
                                 ctx.device)
        return {"state": _state(model), "test_probs": predict_proba(model, reconstruct_12(d.test_x))}

    payload = _cached(ctx, "ecg-downstream-real", key, build)
    return _load(payload["state"], cfg.downstream, k, ctx.device), payload["test_probs"]


@register_metric("ecg_downstream", "downstream classifier on real + generated vs real only: macro-AUC, accuracy, "
                 "macro-F1, F/G_beta=2, bootstrap 95% intervals")
def ecg_downstream(ctx: EvalContext) -> dict[str, float]:
    """Utility test: a ResNet1d trained on the n real target records plus the generated
    records (12 reconstructed leads) is scored on the held-out target test fold
    (``downstream_*``) against the same classifier trained on the real records alone
    (``downstream_real_*``, same seed) and their paired difference (``downstream_gain_*``):
    macro-AUC, accuracy, macro-F1, F_beta=2 and G_beta=2, each with a percentile-bootstrap
    95% interval (``_lo``, ``_hi``). Unconditional samples are labelled by the real-only
    classifier's argmax (``downstream_pseudo_labels`` = 1), so the augmented classifier
    uses no label information beyond the n real records."""
    cfg, d, k = eval_config(ctx), ctx.data, _num_classes(ctx)
    real_model, real_probs = real_only_classifier(ctx, cfg)
    gen = reconstruct_12(ctx.samples.float())
    if ctx.labels is not None:
        gen_y, pseudo = ctx.labels.long().cpu(), 0.0
    else:
        gen_y, pseudo = predict_proba(real_model, gen).argmax(1), 1.0
    model = train_classifier(torch.cat([reconstruct_12(d.target_x), gen]), torch.cat([d.target_y.long(), gen_y]),
                             k, cfg.downstream, _downstream_seed(ctx), ctx.device)
    probs = predict_proba(model, reconstruct_12(d.test_x)).numpy()
    y = d.test_y.numpy()
    rng = numpy_rng(derive_seed(ctx.suite_seed, "eval", "ecg-bootstrap", digest(d.test_x, d.test_y)))
    boot = bootstrap_weights(y, cfg.n_boot, rng)
    out = with_intervals(probs, y, boot, "downstream")
    out.update(with_intervals(real_probs.numpy(), y, boot, "downstream_real"))
    out.update(paired_gain(probs, real_probs.numpy(), y, boot, "downstream_gain"))
    out["downstream_pseudo_labels"] = pseudo
    return out


@register_metric("ecg_features", "feature-space MMD, Frechet distance, precision, recall, density, coverage "
                 "(k=5) in a fixed classifier trained on the real target pool, with real-vs-real floors")
def ecg_features(ctx: EvalContext) -> dict[str, float]:
    """Quality and diversity in the penultimate features of a fixed ResNet1d trained on the
    real target pool (a cached stage): unbiased RBF MMD^2 (bandwidths b_med * (0.25, 0.5,
    1, 2, 4), b_med the median pairwise distance of the real features), the Fréchet
    distance ``feature_fd`` = ||mu_g - mu_r||^2 + Tr(S_g + S_r - 2 (S_g S_r)^{1/2}) (the ECG
    analogue of FID; float64, ``scipy.linalg.sqrtm``, real part, clipped at 0; see
    :mod:`benchmark.metrics.frechet`) and precision, recall, density and coverage (Naeem
    et al. 2020, k-NN balls, k = 5) of m generated records against m held-out test records
    (half A); ``*_floor`` scores test half B instead, i.e. what a perfect generator gets
    (for the FD it is not 0: two finite samples).  For labelled samples,
    ``feature_label_accuracy`` is the fixed classifier's accuracy on the generated
    records w.r.t. the labels they were generated for."""
    cfg, d = eval_config(ctx), ctx.data
    model = feature_classifier(ctx, cfg)
    m = min(len(ctx.samples), len(d.test_x) // 2)
    real_a = features(model, reconstruct_12(d.test_x[:m]))
    real_b = features(model, reconstruct_12(d.test_x[m:2 * m]))
    gen12 = reconstruct_12(ctx.samples[:m].float())
    fake = features(model, gen12)
    mix = [median_bandwidth(real_a) * f for f in MIX]
    out = {"feature_mmd": mmd2_unbiased(fake, real_a, mix), "feature_mmd_floor": mmd2_unbiased(real_b, real_a, mix),
           "feature_fd": frechet_distance(fake, real_a), "feature_fd_floor": frechet_distance(real_b, real_a)}
    out.update({f"feature_{name}": v for name, v in prdc(real_a, fake, cfg.k).items()})
    out.update({f"feature_{name}_floor": v for name, v in prdc(real_a, real_b, cfg.k).items()})
    if ctx.labels is not None:
        pred = predict_proba(model, gen12).argmax(1)
        out["feature_label_accuracy"] = float((pred == ctx.labels[:m].long().cpu()).double().mean())
    return out


def _on_sample_leads(samples: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
    """The test records on the leads of the samples: as stored when the lead counts agree,
    the 12 reconstructed leads for 12-lead samples of 8-lead data."""
    if samples.shape[1] == test.shape[1]:
        return test
    if samples.shape[1] == 12 and test.shape[1] == 8:
        return reconstruct_12(test)
    raise ValueError(f"ecg_spectrum: samples have {samples.shape[1]} leads, the test records {test.shape[1]}")


@register_metric("ecg_spectrum", "per-lead Welch PSD distance (mean |log10 PSD| difference over leads and "
                 "frequencies) of the generated vs held-out test records, with a real-vs-real floor")
def ecg_spectrum(ctx: EvalContext) -> dict[str, float]:
    """Per-lead spectral distance ``psd_distance`` = 1/C sum_c 1/F sum_f |log10 P_g[c, f] -
    log10 P_r[c, f]|, P[c, f] the Welch PSD of lead c (``scipy.signal.welch``, fs = 100 Hz,
    the rate of both ECG tasks; Hann window, nperseg = min(128, length)) averaged over the
    records, of m generated records against m held-out test records (half A, the records
    of ``ecg_features``), on the leads the samples have (the 8 stored independent leads I,
    II, V1-V6; no reconstructed leads); ``psd_distance_floor`` scores test half B instead,
    i.e. what a perfect generator gets.  Lower is better; see :mod:`benchmark.metrics.spectrum`."""
    d = ctx.data
    m = min(len(ctx.samples), len(d.test_x) // 2)
    fake = ctx.samples[:m].double()
    test = _on_sample_leads(fake, d.test_x.double())
    real_a, real_b = test[:m], test[m:2 * m]
    return {"psd_distance": psd_distance(fake, real_a, SAMPLE_RATE_HZ),
            "psd_distance_floor": psd_distance(real_b, real_a, SAMPLE_RATE_HZ)}
