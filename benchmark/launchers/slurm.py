"""SLURM launcher on submitit job arrays (``--launcher slurm``).

Every run that is not done yet becomes one task of a job array; the task calls
``execute(spec, opts)``, which writes the run's record into the shared results folder
like every other launcher.  The submitit job id of each run is written to
``<results>/runs/<run_id>/slurm.json`` so that ``status`` can report a task that died
before it wrote a record (time limit, out of memory, node failure) as ``failed in slurm
job <id>``, and a pending or running one as ``queued`` / ``running`` (``sacct``); see
:mod:`benchmark.slurm_jobs`.

``--slurm-cluster local`` runs the same submission through submitit's local executor
(processes on this machine, at most ``--slurm-array-parallelism`` at a time, default
``--jobs``), for trying a set-up and for the tests.
"""

from __future__ import annotations

import math
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from tqdm.auto import tqdm

from benchmark.errors import BenchmarkError
from benchmark.slurm_jobs import QUEUED, job_states, last_line, write_job_file
from benchmark.runner import ExecOptions, execute
from benchmark.spec import RunSpec
from benchmark.store import DONE, FAILED, RUNNING, RunStore

CLUSTERS = ("slurm", "local")
#: a SLURM partition name (or a comma-separated list of them)
_PARTITION = re.compile(r"[A-Za-z0-9_.+-]+(,[A-Za-z0-9_.+-]+)*")


def check_script_value(flag: str, value: Optional[str]) -> None:
    """Refuse a path or name that goes into the generated batch script with a control
    character in it: submitit shell-quotes values, but a newline ends an ``#SBATCH`` comment
    line, and what follows it would run as a command in the script."""
    if value is None:
        return
    bad = next((c for c in str(value) if not c.isprintable()), None)
    if bad is not None:
        raise BenchmarkError(f"{flag} {str(value)!r} holds the control character {bad!r}, which would reach the "
                             "SLURM batch script; give a name or path without control characters")


@dataclass(frozen=True)
class SlurmOptions:
    """Resources of every array task, and where submitit keeps its files.

    Attributes:
        partition: the SLURM partition (``--slurm-partition``); None for the default.
        time_min: the time limit of one task in minutes (``--slurm-time``).
        gpus: GPUs per task (``--slurm-gpus``).
        cpus: CPUs per task (``--slurm-cpus``); None uses the runs' torch thread count.
        mem_gb: memory per task in GB (``--slurm-mem-gb``); None for the default.
        array_parallelism: at most this many tasks at once (``--slurm-array-parallelism``).
        folder: submitit's folder of pickles and logs (default ``<results>/slurm``).
        cluster: ``slurm``, or ``local`` to try the submission on this machine.
    """

    partition: Optional[str] = None
    time_min: int = 60
    gpus: int = 0
    cpus: Optional[int] = None
    mem_gb: Optional[float] = None
    array_parallelism: Optional[int] = None
    folder: Optional[str] = None
    cluster: str = "slurm"

    def __post_init__(self) -> None:
        if self.cluster not in CLUSTERS:
            raise BenchmarkError(f"--slurm-cluster {self.cluster} is unknown; choose one of {', '.join(CLUSTERS)}")
        check_script_value("--slurm-partition", self.partition)
        check_script_value("--slurm-folder", self.folder)
        if self.partition is not None and not _PARTITION.fullmatch(self.partition):
            raise BenchmarkError(f"--slurm-partition {self.partition!r} is not a partition name; give names of "
                                 "letters, digits, '_', '-', '.' (several separated by commas), as `sinfo` lists them")
        for name in ("time_min", "gpus", "cpus", "mem_gb", "array_parallelism"):
            value = getattr(self, name)
            # not (value > 0) is also true for nan; inf is refused too
            if value is not None and (not math.isfinite(value) or value < 0 or (value == 0 and name != "gpus")):
                flag = {"time_min": "time", "mem_gb": "mem-gb", "array_parallelism": "array-parallelism"}.get(name, name)
                raise BenchmarkError(f"--slurm-{flag} {value} is not allowed; give a finite positive number")


def _executor(slurm: SlurmOptions, opts: ExecOptions, jobs: int, threads: int = 1) -> Any:
    import submitit

    if slurm.cluster == "slurm" and shutil.which("sbatch") is None:
        raise BenchmarkError("sbatch is not available on this machine; run from a SLURM login node, "
                             "or try the submission here with --slurm-cluster local")
    folder = Path(slurm.folder) if slurm.folder else Path(opts.results) / "slurm"
    for flag, value in (("--results", opts.results), ("--slurm-folder", str(folder)), ("python", sys.executable)):
        check_script_value(flag, value)
    executor = submitit.AutoExecutor(folder=folder, cluster=slurm.cluster)
    params: dict[str, Any] = {
        "name": "tldm-bench",
        "timeout_min": int(slurm.time_min),
        "gpus_per_node": int(slurm.gpus),
        "cpus_per_task": int(slurm.cpus or threads),
        "mem_gb": slurm.mem_gb,
        "slurm_partition": slurm.partition,
        "slurm_array_parallelism": slurm.array_parallelism or max(1, jobs),
    }
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return executor


def _waves(specs: Sequence[RunSpec], slurm: SlurmOptions, jobs: int) -> Iterable[Sequence[RunSpec]]:
    """One array for SLURM (which enforces the parallelism); waves of that size elsewhere."""
    if slurm.cluster == "slurm":
        yield specs
        return
    size = slurm.array_parallelism or max(1, jobs)
    for i in range(0, len(specs), size):
        yield specs[i:i + size]


def _outcome(job: Any, cluster: str) -> tuple[str, Optional[str]]:
    """Wait for one task; (execute's outcome, None) or ("failed", why it failed)."""
    from submitit.core.utils import UncompletedJobError

    job.wait()
    if cluster != "slurm" and not job.paths.result_pickle.exists():
        return FAILED, f"the task process died without a result (see {job.paths.stderr})"
    try:
        return job.result(), None
    except UncompletedJobError as exc:  # FailedJobError is a subclass: the task raised
        text = str(exc)
        if "has not produced any output" in text:
            return FAILED, f"the task ended without a result (state {job.state}; see {job.paths.stderr})"
        return FAILED, last_line(text.split("You can check full logs")[0])


def run_slurm(specs: Sequence[RunSpec], opts: ExecOptions, jobs: int,
              slurm: Optional[SlurmOptions] = None) -> list[str]:
    """Submit the runs that are not done (all with ``--force``) and wait for them.

    Returns outcomes in the order of ``specs``: execute's own (``done``, ``failed`` ...),
    ``skipped`` for done runs that were not submitted, ``queued`` for runs whose earlier
    job is still pending or running, and ``failed`` for tasks that died without a record.
    """
    slurm = slurm or SlurmOptions()
    store = RunStore(Path(opts.results))
    out = {s.run_id: "skipped" for s in specs}
    todo = [s for s in specs if opts.force or store.state(s.run_id).status != DONE]
    if slurm.cluster == "slurm":
        active = job_states([store.folder(s.run_id) for s in todo])
        for s in todo:
            if active.get(store.folder(s.run_id), ("", ""))[0] in (QUEUED, RUNNING):
                out[s.run_id] = QUEUED
        todo = [s for s in todo if out[s.run_id] != QUEUED]
    if not todo:
        return [out[s.run_id] for s in specs]
    executor = _executor(slurm, opts, jobs, threads=max((s.threads for s in todo), default=1))
    bar = tqdm(total=len(todo), desc="runs", unit="run", disable=not opts.progress)
    for wave in _waves(todo, slurm, jobs):
        submitted = executor.map_array(execute, list(wave), [opts] * len(wave))
        infos = []
        for spec, job in zip(wave, submitted):
            info = {"job_id": str(job.job_id), "cluster": slurm.cluster, "folder": str(job.paths.folder),
                    "stderr": str(job.paths.stderr), "submitted": time.time()}
            write_job_file(store.folder(spec.run_id), info)
            infos.append(info)
        for spec, job, info in zip(wave, submitted, infos):
            status, why = _outcome(job, slurm.cluster)
            out[spec.run_id] = status
            if why is not None and store.state(spec.run_id).status != FAILED:
                write_job_file(store.folder(spec.run_id), {**info, "error": why})
            bar.update(1)
    bar.close()
    return [out[s.run_id] for s in specs]
