"""Process-parallel launcher on joblib's loky backend (``--launcher joblib --jobs N``)."""

from __future__ import annotations

from typing import Sequence

from joblib import Parallel, delayed
from tqdm.auto import tqdm

from benchmark.runner import ExecOptions, execute
from benchmark.spec import RunSpec


def run_joblib(specs: Sequence[RunSpec], opts: ExecOptions, jobs: int) -> list[str]:
    """Each loky worker calls :func:`execute`; results come back in submission order."""
    parallel = Parallel(n_jobs=max(1, jobs), backend="loky", return_as="generator")
    out = []
    calls = (delayed(execute)(spec, opts) for spec in specs)
    for status in tqdm(parallel(calls), total=len(specs), desc="runs", unit="run", disable=not opts.progress):
        out.append(status)
    return out
