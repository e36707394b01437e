"""Dask distributed launcher (``--launcher dask [--scheduler ADDRESS] --jobs N``).

Each run is one task ``execute(spec, opts)`` submitted through a
:class:`dask.distributed.Client`: to the cluster at ``--scheduler ADDRESS`` (whose workers
must see the same results folder and have this package installed), or else to a
:class:`~dask.distributed.LocalCluster` of N single-threaded worker processes.

A worker that dies mid-run (killed, out of memory) loses nothing finished: the run's lock
dies with it, and the scheduler reruns the task on another worker, up to dask's
``distributed.scheduler.allowed-failures`` times, where the rerun resumes from the run's
checkpoints.  A task that keeps killing its workers ends as ``lost`` (no record; the next
``run`` retries it).
"""

from __future__ import annotations

import logging
import threading
import uuid
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

from tqdm.auto import tqdm
from tqdm.std import tqdm as tqdm_std

from benchmark.errors import BenchmarkError
from benchmark.runner import ExecOptions, execute
from benchmark.spec import RunSpec

if TYPE_CHECKING:
    from dask.distributed import Client

log = logging.getLogger("benchmark.launchers.dask")


@contextmanager
def connect(scheduler: Optional[str], jobs: int) -> Iterator["Client"]:
    """A client of the scheduler at ``scheduler``, or of a new local cluster of ``jobs``
    single-threaded worker processes (closed on exit)."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, ValueError, TypeError) as exc:  # unreachable, or a malformed address
            raise BenchmarkError(
                f"cannot reach the dask scheduler at {scheduler} ({exc}); start it (dask scheduler) or omit --scheduler "
                "for a local cluster"
            ) from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def execute_in_worker(spec: RunSpec, opts: ExecOptions) -> str:
    """``execute(spec, opts)`` in a dask worker process, with tqdm's write lock a thread lock.

    tqdm's default lock holds a multiprocessing RLock: a named semaphore that a spawned worker
    registers with the *parent's* resource tracker.  A worker killed on an interrupt (Ctrl-C,
    SIGTERM) never unregisters it, and the tracker then prints "There appear to be N leaked
    semaphore objects" after the command's one "interrupted" line.  The lock only serialises
    bars within one process here (each spawned worker makes its own), so a thread lock loses
    nothing.
    """
    tqdm_std.set_lock(threading.RLock())
    return execute(spec, opts)


def run_dask(specs: Sequence[RunSpec], opts: ExecOptions, jobs: int, scheduler: Optional[str] = None) -> list[str]:
    """Run every spec as one dask task; returns outcomes in the order of ``specs``."""
    from dask.distributed import as_completed
    from distributed import KilledWorker

    if not specs:
        return []
    with connect(scheduler, jobs) as client:
        tag = uuid.uuid4().hex[:8]
        futures = client.map(execute_in_worker, list(specs), opts=opts, pure=False,
                             key=[f"execute-{s.run_id}-{tag}" for s in specs])
        index = {f.key: i for i, f in enumerate(futures)}
        out = ["lost"] * len(specs)
        bar = tqdm(total=len(specs), desc="runs", unit="run", disable=not opts.progress)
        for future in as_completed(futures):
            i = index[future.key]
            try:
                out[i] = future.result()
            except KilledWorker:
                log.warning("run %s killed its dask workers repeatedly; it has no record and is retried by the next run",
                            specs[i].run_id)
                out[i] = "lost"
            except BaseException:
                client.cancel(futures)
                raise
            bar.update(1)
        bar.close()
        return out
