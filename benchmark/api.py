"""The two plugin interfaces, :class:`Task` and :class:`Method`, and what they exchange.

A task builds a :class:`TaskData` (source pool, target subset, held-out target, optional
labels and closed forms).  A method is fitted with a :class:`FitContext` whose ``data`` is a
:class:`TrainView` of it: the source pool and the n target samples, their labels only where
the method declares ``"labels"``, and oracle information (the target pool, closed forms) only
for the oracle rows that declare it.  Held-out folds never enter a fit context; diagnostics
that need them run at evaluation through :meth:`Method.evaluate`.  Both plugin kinds declare
their parameters as frozen dataclasses (``Params``) with defaults.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Optional

import torch

from benchmark.diffusion.checkpoint import CheckpointSpec

if TYPE_CHECKING:
    from benchmark.artifacts import ArtifactCache
    from benchmark.metrics.context import EvalContext
    from benchmark.spec import RunSpec

#: what a method may declare in ``requires``: task capabilities ("labels", "closed_form") and
#: ORACLE_POOL, the large target pool every task has (only the target-oracle bound trains on it)
ORACLE_POOL = "oracle_pool"
#: the TaskData fields that only evaluation sees (never part of a :class:`TrainView`)
HELD_OUT_FIELDS = ("test_x", "test_y", "source_test_x", "source_test_y")


@dataclass(frozen=True)
class NoParams:
    """For methods or tasks without hyper-parameters."""


@dataclass
class TaskData:
    """Everything a method may see, plus the held-out data only the metrics see.

    Shapes: vectors are ``(N, d)``; ECG records are ``(N, leads, length)``.

    Attributes:
        source_x, source_y: the abundant source pool (m samples) and labels or None.
        target_x, target_y: the n_target target training samples (depend on
            (task, n_target, trial) only).
        test_x, test_y: held-out target samples; no method ever sees them.
        source_test_x: held-out source samples, for ratio diagnostics.
        oracle_x, oracle_y: the target pool: the target subset is drawn from it (nested,
            :meth:`benchmark.design.Design.subset`) and the ``target-oracle`` bound trains on all of it.
        num_classes: the number of labels, or None for unlabelled tasks.
        kind: ``"vector"`` or ``"ecg"``; it selects the network families.
        closed_form: exact densities and scores (Gaussian mixtures) or None.
        source_key, target_key: hashes naming the source pool and the target subset,
            used to key cached stages.
        fingerprints: SHA-256 prefixes of the arrays, recorded in every record.
    """

    source_x: torch.Tensor
    target_x: torch.Tensor
    test_x: torch.Tensor
    source_test_x: torch.Tensor
    oracle_x: torch.Tensor
    kind: str
    source_key: str
    target_key: str
    source_y: Optional[torch.Tensor] = None
    target_y: Optional[torch.Tensor] = None
    test_y: Optional[torch.Tensor] = None
    source_test_y: Optional[torch.Tensor] = None
    oracle_y: Optional[torch.Tensor] = None
    num_classes: Optional[int] = None
    closed_form: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.source_x.shape[1:])

    def target_label_frequencies(self) -> torch.Tensor:
        """Target label frequencies estimated from the n target labels (add-one smoothed)."""
        return label_frequencies(self.target_y, self.num_classes)

    def train_view(self, requires: frozenset[str], holdout: int = 0) -> "TrainView":
        """What a method with ``requires`` may see (see :class:`TrainView`).  ``holdout`` = h > 0
        keeps the last h target samples out (the ``target-val`` selection fold,
        :meth:`held_out_targets`): the view holds the first n - h and a target key of its own."""
        labels = "labels" in requires
        pool = ORACLE_POOL in requires
        n_train = self._n_train(holdout)
        target_x = self.target_x[:n_train].clone() if holdout else _owned(self.target_x)
        target_y = None
        if labels and self.target_y is not None:
            target_y = self.target_y[:n_train].clone() if holdout else _owned(self.target_y)
        target_key = self.target_key if not holdout else _holdout_key(self.target_key, holdout)
        return TrainView(
            source_x=_owned(self.source_x), target_x=target_x, kind=self.kind,
            source_key=self.source_key, target_key=target_key, num_classes=self.num_classes,
            source_y=_owned(self.source_y) if labels else None, target_y=target_y,
            oracle_x=_owned(self.oracle_x) if pool else None,
            oracle_y=_owned(self.oracle_y) if (pool and labels) else None,
            closed_form=self.closed_form if "closed_form" in requires else None)


    def _n_train(self, holdout: int) -> int:
        n = len(self.target_x)
        if not 0 <= holdout < n:
            raise ValueError(f"holdout={holdout} must be in [0, n_target={n})")
        return n - int(holdout)

    def held_out_targets(self, holdout: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The ``target-val`` fold: the last ``holdout`` target samples and their labels (or None)."""
        n_train = self._n_train(holdout)
        ys = None if self.target_y is None else self.target_y[n_train:]
        return self.target_x[n_train:], ys

    def validation_fold(self) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """The large target validation fold of the ``oracle`` rule: ``extras["val_x"]`` (and
        ``"val_y"``) where the task provides one, else (None, None).  Never the test fold."""
        return self.extras.get("val_x"), self.extras.get("val_y")


def _holdout_key(target_key: str, holdout: int) -> str:
    from benchmark.spec import short_hash

    return short_hash({"target": target_key, "holdout": int(holdout)})


def label_frequencies(target_y: Optional[torch.Tensor], num_classes: Optional[int]) -> torch.Tensor:
    """(count_k + 1) / (n + K) over the n target labels: (K,) float64."""
    if target_y is None or num_classes is None:
        raise ValueError("no target labels here: the task has none, or the method does not declare requires={'labels'}")
    counts = torch.bincount(target_y.long(), minlength=num_classes).double()
    return (counts + 1.0) / (counts.sum() + num_classes)


def _owned(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """``t`` itself, or a copy where ``t`` is a view: a view keeps its base tensor (which may
    hold held-out rows of the same draw) reachable through ``t._base``."""
    return t if t is None or t._base is None else t.clone()


@dataclass(frozen=True)
class TrainView:
    """The data a method's ``fit`` and ``sample`` may read; built by :meth:`TaskData.train_view`.

    Shapes: vectors ``(N, d)``, ECG records ``(N, leads, length)``.

    Attributes:
        source_x: the abundant source pool (m samples); ``source_y`` its labels, only for a
            method that declares ``"labels"`` (else None).
        target_x: the n target training samples; ``target_y`` their labels (``"labels"`` only).
        kind, num_classes, source_key, target_key: as in :class:`TaskData`.
        oracle_x, oracle_y: the large target pool, only for a method declaring ``"oracle_pool"``
            (the target-oracle bound).
        closed_form: exact densities and scores, only for a method declaring ``"closed_form"``
            (the oracle decompositions of TGDP).
    Held-out folds (``test_x``, ``source_test_x`` ...) are not here: they travel only in the
    evaluation context (:meth:`Method.evaluate`).
    """

    source_x: torch.Tensor
    target_x: torch.Tensor
    kind: str
    source_key: str
    target_key: str
    num_classes: Optional[int] = None
    source_y: Optional[torch.Tensor] = None
    target_y: Optional[torch.Tensor] = None
    oracle_x: Optional[torch.Tensor] = None
    oracle_y: Optional[torch.Tensor] = None
    closed_form: Any = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.source_x.shape[1:])

    def target_label_frequencies(self) -> torch.Tensor:
        """Target label frequencies from the n target labels (add-one smoothed)."""
        return label_frequencies(self.target_y, self.num_classes)


class Task:
    """A task family.  Subclasses set ``Params`` and implement :meth:`build`.

    ``capabilities`` is a subset of {"labels", "closed_form"}; methods list what they
    need in ``Method.requires``.  ``metrics`` names the registered metrics that apply.
    ``build()`` draws its splits and target subset through :class:`benchmark.design.Design`
    (nested subsets of the pool ``oracle_x``, keys that change with the data);
    ``contract_params`` are small parameters under which ``python -m benchmark check``
    (:mod:`benchmark.check`) checks that (the defaults if empty).  An optional classmethod
    ``preflight(params)`` is called by ``run`` with the Params of every planned setting before
    anything executes (a missing data folder, a fold too small: raise ``BenchmarkError``).
    """

    Params: ClassVar[type] = NoParams
    capabilities: ClassVar[frozenset[str]] = frozenset()
    metrics: ClassVar[tuple[str, ...]] = ()
    default_n_targets: ClassVar[tuple[int, ...]] = (10, 100, 1000)
    contract_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: Any, suite_seed: int, trial: int) -> None:
        self.params = params
        self.suite_seed = suite_seed
        self.trial = trial

    def build(self) -> TaskData:  # pragma: no cover - interface
        raise NotImplementedError

    def n_eval(self) -> int:
        return int(getattr(self.params, "n_eval", 2000))


@dataclass
class FitContext:
    """What :meth:`Method.fit` gets.

    Attributes:
        spec: the run spec; ``seed(purpose, *extra)`` derives a seed from its axes.
        data: the method's :class:`TrainView` (no held-out fold is reachable from here).
        cache: the artifact cache for shared stages.
        device: the torch device of this run.
        progress: whether to show progress bars.
        log: the run's logger.
        diagnostics: a dict the method may fill with extra metrics (ratio_error ...).
        outputs: named arrays the method wants kept beside the record (saved to
            ``outputs.npz`` in the run folder, e.g. a density-ratio grid for figures).
        run_dir: the run's folder (None outside the runner).
        checkpoint_every, checkpoint_keep: the checkpoint policy of long trainings
            (every 0 disables); use :meth:`stage_checkpoint` / :meth:`run_checkpoint`.
        costs: per stage the method used, ``{"seconds", "target_draws", "steps"}``, filled by
            :meth:`add_cost` (the stage helpers call it) and written into the record's ``cost``
            block (:meth:`cost_record`); ``target_draws`` counts the target points drawn over
            the stage's training (steps x its target batch), DESIGN.md §8.
    """

    spec: "RunSpec"
    data: TrainView
    cache: "ArtifactCache"
    device: torch.device
    seed: Callable[..., int]
    progress: bool = False
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("benchmark.run"))
    diagnostics: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    run_dir: Optional[Path] = None
    checkpoint_every: int = 0
    checkpoint_keep: int = 2
    costs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _cost_entries: dict[str, Optional[float]] = field(default_factory=dict, repr=False)

    def add_cost(self, stage: str, steps: int, target_draws: int, seconds: Optional[float],
                 entry: Optional[str] = None) -> None:
        """Count a stage's training in this run's cost: ``steps`` optimiser steps, ``target_draws``
        target points drawn in all (0 for a stage that trains on source samples only), ``seconds``
        of its training (None if unknown).  ``entry`` names a cached stage's entry: counted once per
        run however often the method gets it."""
        if entry is not None:
            if entry in self._cost_entries:
                return
            self._cost_entries[entry] = seconds
        c = self.costs.setdefault(stage, {"seconds": 0.0, "target_draws": 0, "steps": 0})
        c["steps"] += int(steps)
        c["target_draws"] += int(target_draws)
        c["seconds"] = None if seconds is None or c["seconds"] is None else c["seconds"] + float(seconds)

    def add_cached_cost(self, stage: str, key: dict[str, Any], steps: int, target_draws: int) -> None:
        """:meth:`add_cost` for the cached stage ``(stage, key)``; its seconds are those of its build,
        in this run or in the run that built it (:meth:`ArtifactCache.build_seconds`)."""
        self.add_cost(stage, steps, target_draws, self.cache.build_seconds(stage, key),
                      entry=f"{stage}/{self.cache.path(stage, key).name}")

    @contextmanager
    def timed_cost(self, stage: str, steps: int, target_draws: int) -> Iterator[None]:
        """:meth:`add_cost` for a training of this run only, timed around the ``with`` body."""
        t0 = time.perf_counter()
        yield
        self.add_cost(stage, steps, target_draws, time.perf_counter() - t0)

    def cost_record(self, fit_s: float, sample_s: float) -> dict[str, Any]:
        """The record's ``cost`` block: per stage its seconds, target draws and steps; ``seconds``
        = fit + sample seconds of this run plus the build seconds of the cached stages it reused
        (so a run that found its stages cached costs what building them cost), less the source
        model's (a given pretrained model, shared by every row); ``target_draws`` the sum over
        the stages."""
        reused = sum(s for e, s in self._cost_entries.items() if e not in self.cache.builds and s is not None)
        # the shared source model is a given pretrained model (DESIGN.md §8): listed, not counted
        source = sum(float(v.get("seconds") or 0.0) for k, v in self.costs.items() if k.startswith("source"))
        return {"stages": {k: dict(v) for k, v in self.costs.items()},
                "seconds": max(0.0, float(fit_s) + float(sample_s) + reused - source),
                "target_draws": sum(int(v["target_draws"]) for v in self.costs.values())}

    def stage_checkpoint(self, stage: str, key: dict[str, Any]) -> Optional[CheckpointSpec]:
        """Checkpoints for the training of a cached stage, beside its cache entry."""
        if self.checkpoint_every <= 0:
            return None
        return CheckpointSpec(self.cache.checkpoint_dir(stage, key), self.checkpoint_every, self.checkpoint_keep)

    def run_checkpoint(self, name: str) -> Optional[CheckpointSpec]:
        """Checkpoints for a training of this run only (``<run>/checkpoints/<name>``);
        the runner removes them once the run's done record is written."""
        if self.checkpoint_every <= 0 or self.run_dir is None:
            return None
        return CheckpointSpec(self.run_dir / "checkpoints" / name, self.checkpoint_every, self.checkpoint_keep)


class Method:
    """A transfer method: ``fit(ctx)`` then ``sample(n, labels, generator)``.

    Subclasses set ``Params`` (a frozen dataclass with defaults), ``requires`` (task
    capabilities they need, and :data:`ORACLE_POOL` for the target-oracle bound; it also
    decides what their :class:`TrainView` holds) and ``conditional`` (True if samples are
    drawn per label; the runner then passes labels drawn with the target label frequencies).
    ``evaluate(ev)`` is the one place a method may look at held-out data: diagnostics of its
    fitted parts, computed after sampling, recorded beside the metrics.
    """

    Params: ClassVar[type] = NoParams
    requires: ClassVar[frozenset[str]] = frozenset()
    conditional: ClassVar[bool] = False
    #: False for oracle and reference rows: the protocol gives them their default only
    tuned: ClassVar[bool] = True
    #: where the method comes from, shown in the report's tables: "paper" (the TGDP paper's
    #: method), "published" (a published baseline) or "ours" (added in this benchmark; the
    #: default, so a plugin counts as a new method unless it says otherwise)
    source: ClassVar[str] = "ours"

    def __init__(self, params: Any) -> None:
        self.params = params

    def fit(self, ctx: FitContext) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def sample(self, n: int, labels: Optional[torch.Tensor], generator: torch.Generator) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    #: True where :meth:`noise_prediction` gives the fitted model's noise predictor (the
    #: protocol's held-out denoising criterion needs it; :mod:`benchmark.protocol.criteria`)
    predicts_noise: ClassVar[bool] = False

    def noise_prediction(self, x_t: torch.Tensor, t: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        """eps_hat(x_t, t[, labels]) of the fitted model as it samples (guidance included):
        ``x_t`` (B, ...), ``t`` (B,), ``labels`` (B,) for conditional methods else None.
        Only for methods with ``predicts_noise = True``."""
        raise NotImplementedError(f"{type(self).__name__} has no noise predictor (predicts_noise is False)")

    def evaluate(self, ev: "EvalContext") -> dict[str, float]:
        """Diagnostics on held-out data after sampling (``ev.data`` is the full :class:`TaskData`,
        ``ev.samples`` the samples just drawn, ``ev.derive(purpose, *extra)`` the run's seeds);
        arrays for figures go into ``ev.outputs``.  None by default."""
        return {}

    @classmethod
    def missing_capabilities(cls, task_cls: type) -> frozenset[str]:
        """What the method needs that ``task_cls`` lacks (every task has its target pool)."""
        return frozenset(cls.requires - {ORACLE_POOL}) - task_cls.capabilities

    @classmethod
    def supports(cls, task_cls: type) -> bool:
        return not cls.missing_capabilities(task_cls)
