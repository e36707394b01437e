"""Launchers: every one calls the same :func:`benchmark.runner.execute` per spec.

``local`` runs serially in this process; ``joblib`` runs loky worker processes;
``dask`` runs tasks on a dask.distributed cluster (a local one unless ``scheduler`` is
given); ``slurm`` submits submitit job arrays.  Launcher-specific settings arrive as
keyword arguments (see :func:`launcher_options`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Mapping, Sequence

from benchmark.errors import BenchmarkError
from benchmark.runner import ExecOptions
from benchmark.spec import RunSpec


def _local(specs: Sequence[RunSpec], opts: ExecOptions, jobs: int, **_: Any) -> list[str]:
    from benchmark.launchers.local import run_local

    return run_local(specs, opts)


def _joblib(specs: Sequence[RunSpec], opts: ExecOptions, jobs: int, **_: Any) -> list[str]:
    from benchmark.launchers.joblib_launcher import run_joblib

    return run_joblib(specs, opts, jobs)


def _dask(specs: Sequence[RunSpec], opts: ExecOptions, jobs: int, scheduler: str | None = None, **_: Any) -> list[str]:
    from benchmark.launchers.dask_launcher import run_dask

    return run_dask(specs, opts, jobs, scheduler=scheduler)


def _slurm(specs: Sequence[RunSpec], opts: ExecOptions, jobs: int, slurm: Any = None, **_: Any) -> list[str]:
    from benchmark.launchers.slurm import run_slurm

    return run_slurm(specs, opts, jobs, slurm=slurm)


LAUNCHERS: dict[str, Callable[..., list[str]]] = {"local": _local, "joblib": _joblib, "dask": _dask, "slurm": _slurm}


def executes_here(name: str, flags: Mapping[str, Any]) -> bool:
    """Whether runs execute on this machine (so its device can be checked before launching)."""
    if name == "slurm":
        return flags.get("slurm_cluster") == "local"
    return not (name == "dask" and flags.get("scheduler"))


def launcher_options(name: str, flags: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of launcher ``name`` from the ``run`` flags (``scheduler``,
    ``slurm_*``); an unknown launcher, or a flag given for another launcher, is an error."""
    _check(name)
    slurm_keys = {"slurm_partition": "partition", "slurm_time": "time_min", "slurm_gpus": "gpus",
                  "slurm_cpus": "cpus", "slurm_mem_gb": "mem_gb", "slurm_array_parallelism": "array_parallelism",
                  "slurm_folder": "folder", "slurm_cluster": "cluster"}
    given = {k for k in ("scheduler", *slurm_keys) if flags.get(k) is not None}
    stray = sorted(given - ({"scheduler"} if name == "dask" else set(slurm_keys) if name == "slurm" else set()))
    if stray:
        flag = "--" + stray[0].replace("_", "-")
        owner = "dask" if stray[0] == "scheduler" else "slurm"
        raise BenchmarkError(f"{flag} only applies to --launcher {owner}; add --launcher {owner} or drop {flag}")
    if name == "dask":
        return {"scheduler": flags.get("scheduler")}
    if name == "slurm":
        from benchmark.launchers.slurm import SlurmOptions, check_script_value

        check_script_value("--results", flags.get("results"))  # before the results folder is created
        return {"slurm": SlurmOptions(**{v: flags[k] for k, v in slurm_keys.items() if flags.get(k) is not None})}
    return {}


def launch(name: str, specs: Sequence[RunSpec], opts: ExecOptions, jobs: int = 1, **kwargs: Any) -> Counter:
    """Run ``specs`` with the named launcher; returns a count of outcomes."""
    _check(name)
    return Counter(LAUNCHERS[name](specs, opts, jobs, **kwargs))


def _check(name: str) -> None:
    if name not in LAUNCHERS:
        raise BenchmarkError(f"unknown launcher '{name}'; choose one of {', '.join(sorted(LAUNCHERS))}")
