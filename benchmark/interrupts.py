"""SIGTERM ends a ``run`` the way Ctrl-C does.

Ctrl-C sends SIGINT to the whole process group: the parent and every worker process stop.
``kill PID``, a batch scheduler's time limit or a container stop send SIGTERM to the parent
only; by default it dies at once and leaves its loky workers running their runs, unsupervised,
still writing into the results folder.  Inside :func:`sigterm_as_interrupt` SIGTERM raises
:class:`Terminated` (a ``KeyboardInterrupt``) in the main thread instead, so the launchers
unwind as on Ctrl-C: joblib/loky aborts its pool, the dask launcher closes its local cluster, and
both stop their workers (a test checks each), the runs of this process release their locks,
finished records stay, and the command prints its one "interrupted" line and exits with 128 + 15.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM received; ``signum`` is the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def _raise_terminated(signum: int, _frame: object) -> None:
    raise Terminated(signum)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated`; the previous handler comes back on exit.

    Python runs signal handlers in the main thread only, so from another thread (a test
    harness calling ``main``) this changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
