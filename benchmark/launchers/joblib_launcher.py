"""Process-parallel launcher on joblib's loky backend (``--launcher joblib --jobs N``).

A worker process that dies (killed, out of memory, a crash in native code) breaks loky's
pool and takes the runs of the other workers with it.  Nothing finished is lost: records
are written atomically and the dead runs' locks die with their processes.  The runs that
had not returned are submitted again to a fresh pool, up to ``retries`` times; they
resume from their checkpoints, and runs that finished meanwhile are skipped by
:func:`execute`.  Runs still without an outcome are reported as ``lost`` (no record; the
next ``run`` retries them).

A worker whose launching ``run`` is gone (SIGKILL, a node's OOM killer: no signal handler ran)
ends itself within a second (:func:`_watch_parent`): the runs queued for it must not go on for
minutes writing into a results folder nobody watches.  The run it was executing has no
record; the next ``run`` resumes it from its checkpoints.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Sequence

from joblib import Parallel, delayed
from joblib.externals.loky.process_executor import TerminatedWorkerError
from tqdm.auto import tqdm

from benchmark.runner import ExecOptions, execute
from benchmark.spec import RunSpec

log = logging.getLogger("benchmark.launchers.joblib")


WATCH_THREAD = "tldm-parent-watch"


def _watch_parent(parent: int, period_s: float = 0.5) -> None:
    """Start (once per worker process) a daemon thread that ends this process when its parent
    ``parent`` is gone (the worker is re-parented, so ``os.getppid()`` changes)."""
    if any(t.name == WATCH_THREAD for t in threading.enumerate()):
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period_s)
        os._exit(1)  # no cleanup to run: records are atomic, the run's lock dies with the process

    threading.Thread(target=watch, name=WATCH_THREAD, daemon=True).start()


def _execute_tagged(spec: RunSpec, opts: ExecOptions, parent: int) -> tuple[str, str]:
    _watch_parent(parent)
    return spec.run_id, execute(spec, opts)


def run_joblib(specs: Sequence[RunSpec], opts: ExecOptions, jobs: int, retries: int = 2) -> list[str]:
    """Each loky worker calls :func:`execute`; returns outcomes in the order of ``specs``."""
    out: dict[str, str] = {}
    pending = list(specs)
    bar = tqdm(total=len(specs), desc="runs", unit="run", disable=not opts.progress)
    for attempt in range(retries + 1):
        parallel = Parallel(n_jobs=max(1, jobs), backend="loky", return_as="generator_unordered")
        try:
            for rid, status in parallel(delayed(_execute_tagged)(s, opts, os.getpid()) for s in pending):
                out[rid] = status
                bar.update(1)
        except TerminatedWorkerError as exc:
            left = sum(s.run_id not in out for s in pending)
            again = "submitting them again" if attempt < retries else "giving up on them"
            log.warning("a joblib worker died (%s); %d unfinished run(s), %s", str(exc).splitlines()[0], left, again)
        pending = [s for s in pending if s.run_id not in out]
        if not pending:
            break
    bar.close()
    return [out.get(s.run_id, "lost") for s in specs]
