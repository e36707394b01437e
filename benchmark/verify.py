"""``python -m benchmark verify RUN_ID``: execute a done run again from scratch and compare.

The spec and the execution options (device, torch threads, determinism) come from the
run's record.  Plugin folders do not: a record is data, and importing the folders it names
would run whatever code sits there, so only the folders given with ``--plugins`` are
imported, and a note names the ones the record was made with.  The run is executed again by :func:`benchmark.runner.execute`
in a temporary results folder, so every cached stage it uses (source model, classifiers
...) is rebuilt rather than reused, and its metrics are compared with the record's:

* bit for bit when the record says the run was deterministic on the CPU and it was made on
  this CPU model and SIMD level (the suite's promise: same spec, same torch, same CPU and
  thread count => the same bits);
* otherwise (GPU, non-deterministic, or another CPU, which a note then names) metric by
  metric within |rerun - recorded| <= atol + rtol * |recorded|
  (defaults rtol = 0.05, atol = 1e-4; GPU kernels and non-deterministic algorithms
  reorder floating-point sums).

A metric present in only one of the two records is a difference.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

from tabulate import tabulate

from benchmark.errors import BenchmarkError
from benchmark.spec import RunSpec
from benchmark.store import DONE, RunStore

RTOL, ATOL = 0.05, 1e-4


@dataclass(frozen=True)
class MetricDiff:
    """One metric of the record against the rerun (None where it is missing)."""

    name: str
    recorded: Optional[float]
    rerun: Optional[float]
    ok: bool

    @property
    def abs_diff(self) -> Optional[float]:
        if self.recorded is None or self.rerun is None:
            return None
        return abs(self.rerun - self.recorded)


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`: how it compared, each metric, and notes."""

    run_id: str
    exact: bool
    rtol: float
    atol: float
    diffs: tuple[MetricDiff, ...]
    notes: tuple[str, ...] = ()
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(d.ok for d in self.diffs)

    def format(self) -> str:
        rule = "bit-identical (deterministic CPU run)" if self.exact else f"|diff| <= {self.atol:g} + {self.rtol:g} * |recorded|"
        lines = [f"verify {self.run_id}: rerun in a fresh results folder; rule: {rule}"]
        lines += [f"note: {n}" for n in self.notes]
        if self.error is not None:
            lines.append(f"the rerun failed: {self.error}")
        else:
            rows = [[d.name, _fmt(d.recorded), _fmt(d.rerun), _fmt(d.abs_diff), "ok" if d.ok else "DIFFERS"]
                    for d in self.diffs]
            lines.append(tabulate(rows, headers=["metric", "recorded", "rerun", "|diff|", ""], tablefmt="simple",
                                  disable_numparse=True))
        bad = [d.name for d in self.diffs if not d.ok]
        if self.ok:
            verdict = "identical" if self.exact else "within tolerance"
            lines.append(f"verified: {len(self.diffs)} metrics {verdict}")
        elif self.error is None:
            lines.append(f"NOT verified: {len(bad)} of {len(self.diffs)} metrics differ ({', '.join(bad)})")
        else:
            lines.append("NOT verified")
        return "\n".join(lines)


def _fmt(v: Optional[float]) -> str:
    return "-" if v is None else repr(float(v))


def _same_bits(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def compare(recorded: dict[str, float], rerun: dict[str, float], exact: bool,
            rtol: float = RTOL, atol: float = ATOL) -> tuple[MetricDiff, ...]:
    """Metric by metric: equal bits (``exact``) or within ``atol + rtol * |recorded|``."""
    out = []
    for name in sorted(set(recorded) | set(rerun)):
        a, b = recorded.get(name), rerun.get(name)
        if a is None or b is None:
            ok = False
        elif exact:
            ok = _same_bits(float(a), float(b))
        else:
            ok = _same_bits(float(a), float(b)) or abs(float(b) - float(a)) <= atol + rtol * abs(float(a))
        out.append(MetricDiff(name, None if a is None else float(a), None if b is None else float(b), ok))
    return tuple(out)


def find_run(store: RunStore, run_id: str) -> str:
    """The full run id for ``run_id`` or a unique prefix of it (as ``status`` prints them).

    A path (``results/runs/<id>``) is refused with the command that names it correctly."""
    if len(run_id) > 128 or not run_id.isprintable():
        raise BenchmarkError(f"RUN_ID {run_id[:40]!r}... is not a run id (too long or with control characters); "
                             f"`python -m benchmark status --results {store.results}` lists the run ids")
    if os.sep in run_id or "/" in run_id or run_id in (".", ".."):
        path = Path(run_id)
        hint = (f"`python -m benchmark verify {path.name} --results {path.parent.parent}`"
                if path.parent.name == "runs" else
                f"`python -m benchmark status --results {store.results}` lists the run ids")
        raise BenchmarkError(f"RUN_ID {run_id!r} is a path, not a run id; give the id and the results folder: {hint}")
    if store.folder(run_id).is_dir():
        return run_id
    matches = [r for r in store.run_ids() if r.startswith(run_id)] if run_id else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise BenchmarkError(f"no run {run_id!r} in {store.runs}; `python -m benchmark status --results "
                             f"{store.results}` lists the run ids")
    raise BenchmarkError(f"run id prefix {run_id!r} matches {len(matches)} runs; give more digits")


def recorded_plugin_dirs(record: dict[str, Any]) -> tuple[str, ...]:
    """The plugin folders the record says its run imported (never imported by ``verify``)."""
    dirs = record.get("options", {}).get("plugin_dirs", ())
    return tuple(str(d) for d in dirs) if isinstance(dirs, (list, tuple)) else ()


def _plugin_note(record: dict[str, Any], plugin_dirs: tuple[str, ...]) -> list[str]:
    recorded = recorded_plugin_dirs(record)
    if not recorded:
        return []
    return [f"the record was made with plugin folders {', '.join(recorded)}; only --plugins folders are imported "
            f"({', '.join(plugin_dirs) if plugin_dirs else 'none given'})"]


def _check_method_known(spec: RunSpec, record: dict[str, Any], plugin_dirs: tuple[str, ...]) -> None:
    """A run of a plugin method needs its folder on the command line (it is never taken from the record)."""
    from benchmark.registry import load_registries

    regs = load_registries(plugin_dirs)
    if spec.method in regs.methods.names() and spec.task in regs.tasks.names():
        return
    recorded = recorded_plugin_dirs(record)
    name = spec.method if spec.method not in regs.methods.names() else spec.task
    raise BenchmarkError(f"run {spec.run_id} uses {name}, which no built-in or --plugins folder registers; the record "
                         f"was made with plugin folders {', '.join(recorded) or '(none)'}: after checking their code, "
                         "pass the folder with --plugins DIR")


def _options(record: dict[str, Any], results: str, device: Optional[str], progress: bool,
             plugin_dirs: tuple[str, ...] = ()):
    from benchmark.runner import ExecOptions

    known = {f.name for f in fields(ExecOptions)}
    recorded = {k: v for k, v in record.get("options", {}).items() if k in known}
    recorded["plugin_dirs"] = tuple(plugin_dirs)  # the user's, never the record's
    recorded.update(results=results, force=False, progress=progress, save_samples=False)
    if device is not None:
        recorded["device"] = device
    return ExecOptions(**recorded)


def same_cpu(record: dict[str, Any]) -> bool:
    """Whether the record was made on this CPU model and SIMD level (records from before these
    fields existed count as the same)."""
    from benchmark.provenance import cpu_description

    env = record.get("environment", {})
    return all(env.get(k, v) == v for k, v in cpu_description().items())


def _environment_notes(record: dict[str, Any], device: str, threads: int) -> list[str]:
    import platform

    import torch

    from benchmark.provenance import cpu_description

    env = record.get("environment", {})
    here = {"torch": torch.__version__, "processor": platform.machine(), "torch_threads": threads, **cpu_description()}
    notes = [f"the record has {k} {env[k]}, this rerun {v}" for k, v in here.items() if k in env and env[k] != v]
    if not same_cpu(record):
        notes.append("the record was made on another CPU, whose float kernels (conv1d, matmul) may round "
                     "differently, so the tolerance rule applies; verify on that CPU for a bit-for-bit check")
    if env.get("device", "cpu").split(":")[0] != device.split(":")[0]:
        notes.append(f"the record ran on {env.get('device')}, this rerun on {device}")
    return notes


def verify(results: Path, run_id: str, rtol: float = RTOL, atol: float = ATOL, device: Optional[str] = None,
           progress: bool = False, plugin_dirs: tuple[str, ...] = ()) -> Verification:
    """Execute the done run ``run_id`` of ``results`` again in a fresh folder and compare.

    ``device`` overrides the recorded device (a CPU rerun of a GPU record then uses the
    tolerance).  ``plugin_dirs`` (``--plugins``) are the only plugin folders imported.
    """
    from benchmark.runner import execute, resolve_device

    store = RunStore(Path(results))
    rid = find_run(store, run_id)
    state = store.state(rid)
    if state.status != DONE or state.record is None:
        raise BenchmarkError(f"run {rid} is {state.status}, not done; only done runs can be verified "
                             "(run it first with `python -m benchmark run`)")
    record = state.record
    spec = RunSpec.from_dict(record["spec"])
    if spec.run_id != rid:
        raise BenchmarkError(f"the record of run {rid} holds the spec of run {spec.run_id}; the record is corrupt, "
                             "rerun it with `python -m benchmark run --force`")
    plugin_dirs = tuple(str(Path(d).resolve()) for d in plugin_dirs)
    _check_method_known(spec, record, plugin_dirs)
    with tempfile.TemporaryDirectory(prefix="tldm-verify-") as tmp:
        opts = _options(record, tmp, device, progress, plugin_dirs)
        try:
            resolved = str(resolve_device(opts.device))
        except BenchmarkError:
            raise BenchmarkError(f"run {rid} ran on {opts.device} and this machine has no CUDA device; "
                                 "pass --device cpu to compare within the tolerance") from None
        exact = bool(record.get("options", {}).get("deterministic")) and \
            record.get("environment", {}).get("device", "cpu") == "cpu" and resolved == "cpu" and same_cpu(record)
        notes = _plugin_note(record, plugin_dirs) + _environment_notes(record, resolved, spec.threads)
        status = execute(spec, opts)
        rerun = RunStore(Path(tmp)).state(rid)
    if status != DONE or rerun.record is None:
        error = (rerun.record or {}).get("error", {}).get("message", f"status {status}")
        return Verification(rid, exact, rtol, atol, (), tuple(notes), error=error)
    diffs = compare(record.get("metrics", {}), rerun.record.get("metrics", {}), exact, rtol, atol)
    return Verification(rid, exact, rtol, atol, diffs, tuple(notes))
