"""``execute(spec, options)``: the one function every launcher calls.

It takes the run's lock (another process holding it means the run is being executed
there, so this call leaves it as "locked", or waits for it with ``ExecOptions.wait``),
skips a done run unless forced, archives any earlier record into ``history/``, runs
fit -> sample -> metrics and writes the record atomically.  A failure is recorded with its
traceback and retried by the next ``run``.
"""

from __future__ import annotations

import logging
import math
import os
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import SCHEMA_VERSION
from benchmark.api import FitContext
from benchmark.artifacts import ArtifactCache
from benchmark.diffusion.checkpoint import clear as clear_checkpoints
from benchmark.errors import BenchmarkError
from benchmark.figure_data import write_figure_data
from benchmark.metrics.context import EvalContext, metric_doc
from benchmark.params import params_to_dict, resolve_params
from benchmark.protocol.criteria import selection_criteria
from benchmark.provenance import environment, peak_memory_mb
from benchmark.registry import load_registries
from benchmark.seeding import derive_seed, seed_everything, torch_generator
from benchmark.spec import RunSpec
from benchmark.store import CORRUPT, DONE, FAILED, RunStore, save_npz


class RunLogHandler(logging.FileHandler):
    """The run's ``log.txt`` handler.  When a write fails (disk full, file made read-only)
    it stops writing instead of printing a "--- Logging error ---" dump per message; the
    first error is kept in ``error`` (and noted in the record as ``log_error``).  If the
    folder cannot take the record either, :func:`execute` ends with one line."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.error: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.error is None:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        import sys

        self.error = sys.exc_info()[1]


@dataclass(frozen=True)
class ExecOptions:
    """How to execute runs; recorded, but not part of a run's identity.

    The torch thread count is not an option: it belongs to the run (``RunSpec.threads``).
    """

    results: str
    device: str = "cpu"
    deterministic: bool = False
    force: bool = False
    plugin_dirs: tuple[str, ...] = ()
    progress: bool = False
    save_samples: bool = True
    checkpoint_every: int = 200
    checkpoint_keep: int = 2
    wait: bool = False  # wait for a run whose lock another process holds (instead of leaving it "locked")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchmarkError("--device cuda was asked for but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)


def configure_torch(opts: ExecOptions, threads: int) -> torch.device:
    """Set the run's thread count and determinism before anything is built."""
    torch.set_num_threads(int(threads))
    if opts.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(bool(opts.deterministic))
    return resolve_device(opts.device)


def run_seeds(spec: RunSpec) -> dict[str, int]:
    axes = (spec.task, dict(spec.task_params), spec.method, dict(spec.hparams), spec.trial)
    return {p: derive_seed(spec.suite_seed, p, *axes) for p in ("init", "train", "sample", "eval")}


def _fingerprint(t: torch.Tensor | None) -> str | None:
    if t is None:
        return None
    import hashlib

    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def check_samples(samples: torch.Tensor, n: int, shape: tuple[int, ...], method: str) -> None:
    """The one check of what ``Method.sample(n, ...)`` returned: a tensor of shape
    ``(n, *shape)`` (the task's sample shape), every value finite; else the run fails."""
    if not isinstance(samples, torch.Tensor):
        raise RuntimeError(f"{method}.sample returned a {type(samples).__name__}, not a tensor")
    want = (int(n), *map(int, shape))
    if tuple(samples.shape) != want:
        raise RuntimeError(f"{method}.sample({n}) returned shape {tuple(samples.shape)}, expected {want} "
                           "(n rows of the task's sample shape)")
    if not torch.isfinite(samples).all():
        raise RuntimeError(f"{method} produced non-finite samples")


def check_finite_metrics(metrics: dict[str, float], method: str) -> None:
    """A metric or diagnostic that is NaN or infinite fails the run, naming it: records
    are strict JSON, and a non-finite value would break every later report."""
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    if bad:
        raise RuntimeError(f"metric {bad[0]} is {metrics[bad[0]]} (non-finite"
                           f"{', also ' + ', '.join(bad[1:]) if bad[1:] else ''}); a metric or diagnostic of a "
                           f"{method} run must be a finite number")


def _selection_criteria(spec: RunSpec, method: Any, conditional: bool, data: Any, samples: torch.Tensor,
                        device: torch.device) -> dict[str, float]:
    """The protocol's selection criteria (:mod:`benchmark.protocol.criteria`): on the holdout of a
    holdout run (``target-val``) and on the task's validation fold (``oracle``), where it has one."""
    folds = {}
    if spec.holdout:
        x, y = data.held_out_targets(spec.holdout)
        folds["tv"] = (x, y if conditional else None, data.target_x)
    val_x, val_y = data.validation_fold()
    if val_x is not None:
        folds["oracle"] = (val_x, val_y if conditional else None, val_x)
    predict = method.noise_prediction if getattr(method, "predicts_noise", False) else None
    return selection_criteria(predict, samples, folds, lambda fold: derive_seed(
        spec.suite_seed, "select", spec.task, dict(spec.task_params), spec.trial, fold), device)


def run_one(spec: RunSpec, opts: ExecOptions, folder: Path, log: logging.Logger) -> dict[str, Any]:
    """Fit, sample and evaluate one spec; returns the metrics part of the record."""
    device = configure_torch(opts, spec.threads)
    regs = load_registries(opts.plugin_dirs)
    task_cls, method_cls = regs.tasks.get(spec.task), regs.methods.get(spec.method)
    task_params = resolve_params(task_cls.Params, spec.task_params, owner=spec.task)
    hparams = resolve_params(method_cls.Params, spec.hparams, owner=spec.method)
    seeds = run_seeds(spec)
    axes = (spec.task, dict(spec.task_params), spec.method, dict(spec.hparams), spec.trial)

    def seed(purpose: str, *extra: Any) -> int:
        return derive_seed(spec.suite_seed, purpose, *axes, *extra)

    seed_everything(seeds["init"])
    timings: dict[str, float] = {}
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    task = task_cls(task_params, spec.suite_seed, spec.trial)
    data = task.build()
    timings["data_s"] = time.perf_counter() - t0

    cache = ArtifactCache(Path(opts.results) / "artifacts",
                          execution={"device": device.type, "threads": spec.threads, "deterministic": opts.deterministic})
    # the method sees its train-only view; the held-out folds stay with the evaluation below
    ctx = FitContext(spec=spec, data=data.train_view(method_cls.requires, spec.holdout), cache=cache, device=device, seed=seed,
                     progress=opts.progress, log=log, run_dir=folder, checkpoint_every=opts.checkpoint_every,
                     checkpoint_keep=opts.checkpoint_keep)
    method = method_cls(hparams)
    t0, c0 = time.perf_counter(), time.process_time()
    method.fit(ctx)
    timings["fit_s"] = time.perf_counter() - t0
    fit_cpu_s = time.process_time() - c0

    n = task.n_eval()
    gen = torch_generator(seeds["sample"])
    labels = None
    if method_cls.conditional:  # the frequencies of the targets it trained on (not the holdout's)
        labels = torch.multinomial(ctx.data.target_label_frequencies().float(), n, replacement=True, generator=gen)
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        samples = method.sample(n, labels, gen)
    timings["sample_s"] = time.perf_counter() - t0
    sample_cpu_s = time.process_time() - c0
    check_samples(samples, n, data.sample_shape, spec.method)
    samples = samples.detach().cpu()

    t0 = time.perf_counter()
    ectx = EvalContext(data=data, samples=samples, labels=labels, seed=seeds["eval"], device=device, cache=cache,
                       suite_seed=spec.suite_seed, derive=seed)
    metrics: dict[str, float] = {}
    info: dict[str, str] = {}
    metric_s: dict[str, dict[str, float]] = {}
    for name in task_cls.metrics:
        fn = regs.metrics.get(name)
        m0, c0 = time.perf_counter(), time.process_time()
        values = fn(ectx)
        metric_s[name] = {"wall_s": time.perf_counter() - m0, "cpu_s": time.process_time() - c0}
        metrics.update({k: float(v) for k, v in values.items()})
        info[name] = metric_doc(fn)
    metrics.update({k: float(v) for k, v in ctx.diagnostics.items()})
    m0, c0 = time.perf_counter(), time.process_time()
    metrics.update({k: float(v) for k, v in method.evaluate(ectx).items()})
    evaluate_s = {"wall_s": time.perf_counter() - m0, "cpu_s": time.process_time() - c0}
    m0, c0 = time.perf_counter(), time.process_time()
    metrics.update(_selection_criteria(spec, method, method_cls.conditional, data, samples, device))
    select_s = {"wall_s": time.perf_counter() - m0, "cpu_s": time.process_time() - c0}
    check_finite_metrics(metrics, spec.method)
    timings["eval_s"] = time.perf_counter() - t0
    timings["cpu_s"] = time.process_time() - cpu0
    artifacts: dict[str, str] = {}  # file -> SHA-256, checked whenever the record is loaded
    figure_data = None
    if opts.save_samples:
        figure_data = write_figure_data(Path(opts.results) / "artifacts", data)
        arrays = {"samples": samples.numpy()}
        if labels is not None:
            arrays["labels"] = labels.numpy()
        artifacts["samples.npz"] = save_npz(folder / "samples.npz", arrays)
        outputs = {**ctx.outputs, **ectx.outputs}
        if outputs:
            artifacts["outputs.npz"] = save_npz(folder / "outputs.npz", {k: np.asarray(v) for k, v in outputs.items()})
    return {
        "metrics": metrics,
        "artifacts": artifacts,
        "figure_data": figure_data,
        "metric_info": info,
        "resolved_hparams": params_to_dict(hparams),
        "resolved_task_params": params_to_dict(task_params),
        "seeds": seeds,
        "timings": timings,
        "memory": peak_memory_mb(device),
        "environment": environment(device, torch.get_num_threads(), opts.deterministic),
        "data_fingerprints": {
            "source_key": data.source_key,
            "target_key": data.target_key,
            "source_x": _fingerprint(data.source_x),
            "target_x": _fingerprint(data.target_x),
            "test_x": _fingerprint(data.test_x),
        },
        "stages": {"built": list(cache.builds), "reused": list(cache.hits)},
        # per stage: seconds (a reused stage: those of its build), target draws, steps (DESIGN.md §8)
        "cost": ctx.cost_record(timings["fit_s"], timings["sample_s"]),
        # wall/CPU seconds of each metric (cached evaluation stages built inside a metric count here too), of
        # the method's evaluate hook, of sampling and of each stage this run built; read by scripts/suite_profile.py
        "profile": {"metric_s": metric_s, "evaluate_s": evaluate_s, "select_s": select_s, "stage_s": dict(cache.build_times),
                    "fit_cpu_s": fit_cpu_s, "sample_cpu_s": sample_cpu_s},
    }


def execute(spec: RunSpec, opts: ExecOptions) -> str:
    """Execute one run; returns ``done``, ``failed``, ``skipped`` or ``locked``.

    An ``OSError`` of the results folder (it became unwritable, the disk is full ...) ends
    the call with a one-line :class:`BenchmarkError`; records already written stay as they are.
    """
    try:
        return _execute(spec, opts)
    except OSError as exc:
        raise BenchmarkError(
            f"cannot write run {spec.run_id} into {opts.results} ({exc}); finished runs are kept there: "
            "make the folder writable (or free space) and run the same command again"
        ) from None


def _execute(spec: RunSpec, opts: ExecOptions) -> str:
    store = RunStore(Path(opts.results))
    rid = spec.run_id
    lock = store.try_lock(rid)
    if lock is None:
        if not opts.wait:
            return "locked"
        lock = store.lock(rid)
        lock.acquire()  # another process executes it: wait, then skip it below if it is done
    try:
        state = store.state(rid)
        if state.status == DONE and not opts.force:
            return "skipped"
        if state.status in (DONE, FAILED, CORRUPT):
            store.archive(rid, {DONE: "replaced", FAILED: "failed", CORRUPT: "corrupt"}[state.status])
        folder = store.folder(rid)
        store.write_spec(rid, spec.to_dict())
        log = logging.getLogger(f"benchmark.run.{rid}")
        log.setLevel(logging.INFO)
        handler = RunLogHandler(folder / "log.txt")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        started = time.time()
        record: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "run_id": rid,
            "spec": spec.to_dict(),
            "options": {k: v for k, v in asdict(opts).items() if k not in ("results", "force", "progress", "wait")},
            "started": started,
        }
        try:
            log.info("start %s", spec.label())
            record.update(run_one(spec, opts, folder, log))
            record["status"] = DONE
            log.info("done %s", spec.label())
        except Exception as exc:  # recorded, retried by the next run
            record["status"] = FAILED
            record["error"] = {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
            log.error("failed %s\n%s", spec.label(), record["error"]["traceback"])
        finally:
            log.removeHandler(handler)
            handler.close()
        if handler.error is not None:
            record["log_error"] = f"log.txt is incomplete: {handler.error}"
        record["finished"] = time.time()
        store.write_record(rid, record)
        if record["status"] == DONE:
            clear_checkpoints(folder / "checkpoints")
        return record["status"]
    finally:
        lock.release()
