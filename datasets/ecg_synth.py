"""``ecg-synth``: an offline synthetic ECG transfer task (source and shifted target populations).

Records come from the parametric 12-lead simulator :mod:`benchmark.ecg.simulator`
(sum-of-Gaussian P-QRS-T waves, McSharry et al. 2003 style): the source pool from
``SOURCE`` (PTB-XL-like: slower rate, normal axis, clean, NORM-heavy) and every target
split from ``TARGET`` (ICBEB-like: faster, leftward axis, smaller amplitudes, more noise
and baseline wander, ICBEB class frequencies).  x: (N, 8, length) float32, the independent
leads I, II, V1-V6 at 100 Hz, divided by one scalar ``scale`` (the standard deviation of
the source pool, in mV) when ``normalize`` is true, so that the linear lead relations
are kept and the data are about unit scale (as in the ``ptbxl-icbeb`` task); y: class
index into ECG_CLASSES.

Splits (each from its own ``data`` stream of (task, data params) and the suite seed):
source pool (``n_source``), held-out source (``n_test``, diagnostics only), target pool
(``n_pool``; the ``target-oracle`` trains on it and the fixed feature classifier of the
metrics too), a validation fold (``n_val``; ``extras["val_x"]``, ``extras["val_y"]``,
for evaluation-side selection only; no method trains or selects on it) and the test
fold (``n_test``; only the metrics see it).  The n_target training records are the nested
subset of :class:`benchmark.design.Design` (the first n_target of the trial's permutation
of the pool), so every method sees identical data and the 50-record set is inside the 200 one.

Like the real PTB-XL/ICBEB data, the pools are one fixed data set: the trial does not
change them (so the source model is trained once and shared by every trial); trials vary
the target subset and every training and sampling seed.

The evaluation budget (``clf_*``, ``feature_steps``, ``n_boot``) is a task parameter so
the suites can size it; it never enters the data keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.api import Task, TaskData
from benchmark.design import Design
from benchmark.ecg.classes import ECG_CLASSES, NUM_ECG_CLASSES
from benchmark.ecg.simulator import SOURCE, TARGET, PopulationConfig, simulate
from benchmark.metrics.ecg_metrics import (ECG_METRICS, EVAL_KEY, ECGEvalConfig, check_eval_sizes,
                                           eval_config_from_params)
from benchmark.registry import register_task

DATA_FIELDS = ("n_source", "n_pool", "n_test", "n_val", "length", "normalize")


@dataclass(frozen=True)
class ECGSynthParams:
    """Sizes of the splits, the record length (samples at 100 Hz) and the evaluation budget.

    ``clf_width``/``clf_steps``: the downstream classifier; ``feature_steps``: the fixed
    feature classifier (same width); ``n_boot``: bootstrap resamples of the test fold.
    """

    n_target: int = 200
    n_source: int = 4000
    n_pool: int = 2000
    n_test: int = 1000
    n_val: int = 500
    n_eval: int = 400
    length: int = 256
    normalize: bool = True
    clf_width: int = 16
    clf_steps: int = 150
    feature_steps: int = 400
    n_boot: int = 1000

    def __post_init__(self) -> None:
        if not 1 <= self.n_target <= self.n_pool:
            raise ValueError(f"n_target={self.n_target} must be between 1 and n_pool={self.n_pool}")
        if min(self.n_source, self.n_test, self.n_val, self.n_eval) < 12:
            raise ValueError("n_source, n_test, n_val and n_eval must be >= 12")
        if self.length < 16:
            raise ValueError(f"length={self.length} must be >= 16 samples")
        self.eval_config()  # checks the evaluation budget

    def eval_config(self) -> ECGEvalConfig:
        return eval_config_from_params(self)


@register_task("ecg-synth", "synthetic 12-lead ECGs (sum-of-Gaussian simulator), shifted source -> target population")
class ECGSynth(Task):
    Params = ECGSynthParams
    capabilities = frozenset({"labels"})
    metrics = ECG_METRICS
    default_n_targets = (50, 200)
    contract_params = {"n_source": 24, "n_pool": 24, "n_test": 12, "n_val": 12, "n_eval": 12, "length": 32}
    name = "ecg-synth"
    source_population: PopulationConfig = SOURCE
    target_population: PopulationConfig = TARGET

    def build(self) -> TaskData:
        prm = self.params
        design = Design(self.name, self.suite_seed, self.trial)
        fixed = {k: getattr(prm, k) for k in DATA_FIELDS}

        check_eval_sizes(self.name, prm.eval_config(), "target test fold (n_test)", prm.n_test, prm.n_eval)

        def split(part: str, n: int, population: PopulationConfig):
            sim = simulate(n, population, design.generator(fixed, part), length=prm.length)
            return sim.x8, sim.y

        src_x, src_y = split("source", prm.n_source, self.source_population)
        src_test_x, src_test_y = split("source_test", prm.n_test, self.source_population)
        pool_x, pool_y = split("target_pool", prm.n_pool, self.target_population)
        val_x, val_y = split("target_val", prm.n_val, self.target_population)
        test_x, test_y = split("target_test", prm.n_test, self.target_population)
        scale = float(src_x.std()) if prm.normalize else 1.0
        src_x, src_test_x, pool_x, val_x, test_x = (t / scale for t in (src_x, src_test_x, pool_x, val_x, test_x))
        subset = design.subset(prm.n_pool, prm.n_target)
        source_key = design.source_key(params=fixed)
        return TaskData(
            source_x=src_x, source_y=src_y, target_x=pool_x[subset], target_y=pool_y[subset],
            test_x=test_x, test_y=test_y, source_test_x=src_test_x, source_test_y=src_test_y,
            oracle_x=pool_x, oracle_y=pool_y, kind="ecg", num_classes=NUM_ECG_CLASSES,
            source_key=source_key,
            target_key=design.target_key(source_key, prm.n_target),
            extras={"class_names": ECG_CLASSES, "scale_mv": scale, "val_x": val_x, "val_y": val_y,
                    EVAL_KEY: prm.eval_config()},
        )
