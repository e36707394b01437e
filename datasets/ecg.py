"""``ptbxl-icbeb``: PTB-XL (source) -> ICBEB 2018 (target), 12-lead ECGs from the user's folder.

The data folder is given by ``--data-dir DIR`` (``run`` and ``prepare``) or the environment
variable ``TLDM_ECG_DIR``; it is never a task parameter, so run ids do not depend on where
the data lives.  The records are read and cached once by :mod:`benchmark.ecg.prepare`.

Data (x: ``(N, 8, length)`` float32, the independent leads I, II, V1-V6 at 100 Hz, divided
by one scalar ``scale`` (the standard deviation of the source pool, in mV) when
``normalize`` is true, so that the linear lead relations are kept; y: class index into
ECG_CLASSES):

- source: PTB-XL ``strat_fold`` 1-8, records with a mapped class; y = the primary class
  (first non-NORM class, NORM only when alone).  ``n_source`` > 0 keeps a random subset
  (``data`` stream of (task, n_source)).
- source test: PTB-XL ``strat_fold`` 9-10.
- target: ``n_target`` records of ICBEB folds 1-8: the nested subset of
  :class:`benchmark.design.Design` (the first n_target of the trial's permutation of that
  pool), so subsets depend on (task, n_target, trial) only and are nested (the 100-record
  subset is inside the 690 one).
- validation: ICBEB fold 9 (``extras["val_x"]``, ``extras["val_y"]``), for evaluation
  classifiers' selection only; no method trains or selects on it.
- test: ICBEB fold 10 (``test_x``, ``test_y``); only the metrics see it.
- oracle: the whole ICBEB fold 1-8 pool.

y for ICBEB is ``First_label``.  ``extras`` also holds the multi-hot labels
(``*_multi_hot``: (N, 9) bool) of every split, the record ids of the target subset, the
scale and the evaluation budget of the ECG metrics (``extras["ecg_eval"]``).  Unlike the
published code, the domain classifier of every method can only use ``target_x`` (never
the test fold).

The source and target pools are one fixed data set: the trial does not change them, so
the source model (keyed by ``source_key``: the cached data's hash and the data
parameters) is trained once and shared by every trial; trials vary the target subset and
every per-run training and sampling seed (``target_key`` includes n_target and the trial).
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Sequence

import numpy as np
import torch

from benchmark.api import Task, TaskData
from benchmark.design import Design
from benchmark.ecg.classes import ECG_CLASSES, NUM_ECG_CLASSES
from benchmark.ecg.leads import to_independent
from benchmark.errors import BenchmarkError
from benchmark.metrics.ecg_metrics import (ECG_METRICS, EVAL_KEY, ECGEvalConfig, check_eval_sizes,
                                           eval_config_from_params)
from benchmark.registry import register_task

PAPER_N_TARGET = 690
DATA_FIELDS = ("length", "n_source", "normalize")


@dataclass(frozen=True)
class PtbxlIcbebParams:
    """``length``: samples per lead (1000 = 10 s; shorter cuts, longer zero-pads at the end);
    ``n_source``: 0 = every source record; ``n_eval``: samples generated for the metrics.
    The evaluation budget (as in ``ecg-synth``; GPU-sized defaults): ``clf_width`` and
    ``clf_steps`` for the downstream classifier, ``feature_steps`` for the fixed feature
    classifier (same width), ``n_boot`` bootstrap resamples of the test fold."""

    n_target: int = PAPER_N_TARGET
    length: int = 1000
    n_source: int = 0
    n_eval: int = 1000
    normalize: bool = True
    clf_width: int = 32
    clf_steps: int = 2000
    feature_steps: int = 4000
    n_boot: int = 1000

    def __post_init__(self) -> None:
        if self.n_target < 1 or self.length < 16 or self.n_source < 0 or self.n_eval < 12:
            raise ValueError("need n_target >= 1, length >= 16, n_source >= 0 and n_eval >= 12")
        self.eval_config()  # checks the evaluation budget

    def eval_config(self) -> ECGEvalConfig:
        return eval_config_from_params(self)


def _fit_length(x: torch.Tensor, length: int) -> torch.Tensor:
    if x.shape[-1] >= length:
        return x[..., :length].contiguous()
    return torch.nn.functional.pad(x, (0, length - x.shape[-1]))


def _pooled_std(x12: np.ndarray, rows: np.ndarray, chunk: int = 1024) -> float:
    """Standard deviation (mV) of the independent leads of ``x12[rows]`` over records, leads
    and time, accumulated in float64 chunk by chunk (no full-size copy)."""
    total = square = 0.0
    count = 0
    for start in range(0, len(rows), chunk):
        block = to_independent(torch.from_numpy(x12[rows[start:start + chunk]])).double()
        total, square, count = total + float(block.sum()), square + float((block ** 2).sum()), count + block.numel()
    mean = total / count
    return float(np.sqrt(max(square / count - mean ** 2, 1e-12)))


@register_task("ptbxl-icbeb", "PTB-XL (source) -> ICBEB2018 (target), real 12-lead ECGs from --data-dir / TLDM_ECG_DIR")
class PtbxlIcbeb(Task):
    Params = PtbxlIcbebParams
    capabilities = frozenset({"labels"})
    metrics = ECG_METRICS
    default_n_targets = (PAPER_N_TARGET,)
    contract_params = {"length": 64}
    name = "ptbxl-icbeb"

    @classmethod
    def preflight(cls, params: Sequence[PtbxlIcbebParams] = ()) -> None:
        """Called by ``run`` before anything executes: the data folder must be set and exist, and
        its prepared folds must hold every planned setting (n_target, the test fold the metrics
        need), so a too-small fold ends the command with one line instead of failed runs."""
        from benchmark.ecg import icbeb
        from benchmark.ecg.prepare import load_prepared, resolve_data_dir

        resolve_data_dir()
        if not params:
            return
        data = load_prepared()
        n_pool = int(np.isin(data.icbeb.fold, icbeb.TRAIN_FOLDS).sum())
        n_test = int((data.icbeb.fold == icbeb.TEST_FOLD).sum())
        for prm in params:
            cls._check_sizes(prm, n_pool, n_test)

    @classmethod
    def _check_sizes(cls, prm: PtbxlIcbebParams, n_pool: int, n_test: int) -> None:
        if prm.n_target > n_pool:
            raise BenchmarkError(f"ptbxl-icbeb: n_target={prm.n_target} exceeds the {n_pool} ICBEB records of "
                                 f"folds 1-8; choose n_target <= {n_pool}")
        check_eval_sizes(cls.name, prm.eval_config(), "ICBEB test fold (fold 10)", n_test, prm.n_eval)

    def build(self) -> TaskData:
        from benchmark.ecg import icbeb, ptbxl
        from benchmark.ecg.prepare import load_prepared

        prm = self.params
        data = load_prepared()
        src_all = np.flatnonzero(np.isin(data.ptbxl.fold, ptbxl.SOURCE_FOLDS))
        src_test = np.flatnonzero(np.isin(data.ptbxl.fold, ptbxl.HELD_OUT_FOLDS))
        pool = np.flatnonzero(np.isin(data.icbeb.fold, icbeb.TRAIN_FOLDS))
        val = np.flatnonzero(data.icbeb.fold == icbeb.VALIDATION_FOLD)
        test = np.flatnonzero(data.icbeb.fold == icbeb.TEST_FOLD)
        if prm.n_target <= len(pool) and min(len(src_all), len(src_test), len(val), len(test)) == 0:
            raise BenchmarkError("ptbxl-icbeb: a split is empty (PTB-XL strat_fold 1-8 / 9-10, ICBEB folds 9 / 10); "
                                 "run `python -m benchmark prepare ecg` and check the counts it prints")
        self._check_sizes(prm, len(pool), len(test))
        design = Design(self.name, self.suite_seed, self.trial)
        fixed = {k: getattr(prm, k) for k in DATA_FIELDS}
        src = src_all
        if prm.n_source and prm.n_source < len(src_all):
            gen = design.generator(prm.n_source)
            src = np.sort(src_all[torch.randperm(len(src_all), generator=gen)[: prm.n_source].numpy()])
        target = pool[design.subset(len(pool), prm.n_target).numpy()]

        ptb, icb = data.ptbxl, data.icbeb
        scale = _pooled_std(ptb.x, src_all) if prm.normalize else 1.0

        def take(arr: np.ndarray, rows: np.ndarray) -> torch.Tensor:
            return _fit_length(to_independent(torch.from_numpy(arr[rows])) / scale, prm.length).float()

        def labels(arr, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.from_numpy(arr.y[rows]).long(), torch.from_numpy(arr.multi_hot[rows]).bool()

        (sy, sh), (sty, sth), (ty, th) = labels(ptb, src), labels(ptb, src_test), labels(icb, target)
        (vy, vh), (ey, eh), (oy, oh) = labels(icb, val), labels(icb, test), labels(icb, pool)
        source_key = design.source_key(data=data.data_hash, params=fixed)
        return TaskData(
            source_x=take(ptb.x, src), source_y=sy, target_x=take(icb.x, target), target_y=ty,
            test_x=take(icb.x, test), test_y=ey, source_test_x=take(ptb.x, src_test), source_test_y=sty,
            oracle_x=take(icb.x, pool), oracle_y=oy, kind="ecg", num_classes=NUM_ECG_CLASSES,
            source_key=source_key,
            target_key=design.target_key(source_key, prm.n_target),
            extras={
                "class_names": ECG_CLASSES, "scale_mv": scale, "data_hash": data.data_hash,
                "source_multi_hot": sh, "source_test_multi_hot": sth, "target_multi_hot": th,
                "test_multi_hot": eh, "oracle_multi_hot": oh,
                "val_x": take(icb.x, val), "val_y": vy, "val_multi_hot": vh,
                "target_ids": tuple(str(i) for i in icb.ids[target]), EVAL_KEY: prm.eval_config(),
            },
        )
