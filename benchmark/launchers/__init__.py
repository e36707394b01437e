"""Launchers: every one calls the same :func:`benchmark.runner.execute` per spec.

``local`` runs serially in this process; ``joblib`` runs loky worker processes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Sequence

from benchmark.errors import BenchmarkError
from benchmark.runner import ExecOptions
from benchmark.spec import RunSpec


def _local(specs: Sequence[RunSpec], opts: ExecOptions, jobs: int, **_: Any) -> list[str]:
    from benchmark.launchers.local import run_local

    return run_local(specs, opts)


def _joblib(specs: Sequence[RunSpec], opts: ExecOptions, jobs: int, **_: Any) -> list[str]:
    from benchmark.launchers.joblib_launcher import run_joblib

    return run_joblib(specs, opts, jobs)


LAUNCHERS: dict[str, Callable[..., list[str]]] = {"local": _local, "joblib": _joblib}


def launch(name: str, specs: Sequence[RunSpec], opts: ExecOptions, jobs: int = 1, **kwargs: Any) -> Counter:
    """Run ``specs`` with the named launcher; returns a count of outcomes."""
    if name not in LAUNCHERS:
        raise BenchmarkError(f"unknown launcher '{name}'; choose one of {', '.join(sorted(LAUNCHERS))}")
    return Counter(LAUNCHERS[name](specs, opts, jobs, **kwargs))
