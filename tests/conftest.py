"""Shared fixtures: the CLI in a subprocess or in process, and one tiny smoke results folder.

* ``run_cli(*args)`` runs ``python -m benchmark ARGS`` in a fresh interpreter (cwd = repo
  root, ``PYTHONPATH`` = repo root) and returns the ``CompletedProcess``.
* ``cli_main(*args)`` calls :func:`benchmark.cli.main` in this process (fast; for commands
  that fail before anything runs, ``list``, ``status`` and dry runs) and returns
  ``(exit_code, stdout, stderr)``.
* ``smoke_results`` is a session-scoped results folder holding one ``run --suite smoke``
  (every registered method on every smoke task, tiny sizes, two worker processes).  Treat it as
  read-only; a test that changes results works on ``copy_results(smoke_results, tmp_path / "r")``.
* ``by_method(results, task="gmm2d")``, ``records``, ``run_counts``, ``snapshot`` and
  ``one_error_line`` read results folders and CLI output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
# Runs in the test process or one serial subprocess (``--jobs 1``: the local launcher); a test
# that wants parallel workers passes its own --jobs after these flags (argparse keeps the last).
RUN_FLAGS = ("--quiet", "--no-report", "--jobs", "1")

# Tiny tensors: one intra-op thread is fastest, and on a shared or oversubscribed machine
# several threads spin against each other (a 10 s test took minutes with 2 threads).
torch.set_num_threads(1)


def cli_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TQDM_DISABLE": "1"}
    env.update(extra)
    return env


def run_cli(*args: Any, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m benchmark *args`` in a subprocess; output captured as text."""
    return subprocess.run([sys.executable, "-m", "benchmark", *map(str, args)], cwd=cwd, env=env or cli_env(),
                          capture_output=True, text=True, timeout=timeout)


def popen_cli(*args: Any) -> subprocess.Popen:
    """Start ``python -m benchmark *args`` without waiting (for concurrency tests)."""
    return subprocess.Popen([sys.executable, "-m", "benchmark", *map(str, args)], cwd=REPO_ROOT, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """``python -c code`` in a subprocess (cwd = repo root)."""
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=cli_env(**env), capture_output=True,
                          text=True, timeout=300)


def copy_results(src: Path, dst: Path, skip: Callable[[Path], bool] = lambda p: False) -> Path:
    """Copy a results folder keeping file mtimes; files for which ``skip(path)`` is true are left out."""

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if skip(Path(folder) / n)]

    shutil.copytree(src, dst, ignore=ignore)
    return dst


def snapshot(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under ``root`` (lock files excluded)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def records(results: Path) -> dict[str, dict[str, Any]]:
    """run_id -> parsed record.json of every run folder that has one."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted((results / "runs").glob("*/record.json"))}


def by_method(results: Path, task: str = "gmm2d") -> dict[str, dict[str, Any]]:
    """method -> record, for the runs of one task."""
    return {r["spec"]["method"]: r for r in records(results).values() if r["spec"]["task"] == task}


def run_counts(stdout: str) -> dict[str, int]:
    """Parse the ``N runs: done a, skipped b`` line that ``run`` prints."""
    for line in stdout.splitlines():
        if " runs: " in line:
            _, _, rest = line.partition(" runs: ")
            return {k: int(v) for k, v in (part.rsplit(" ", 1) for part in rest.split(", ") if part)}
    raise AssertionError(f"no 'N runs:' line in output:\n{stdout}")


def one_error_line(stderr: str) -> str:
    """Assert stderr is exactly one ``error: ...`` line and return it."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{stderr}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``run --suite smoke`` (every method x every smoke task, tiny sizes, 2 jobs); read-only."""
    results = tmp_path_factory.mktemp("smoke") / "results"
    proc = run_cli("run", "--suite", "smoke", "--results", results, *RUN_FLAGS, "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return results


@pytest.fixture(scope="session")
def gmm() -> ModuleType:
    """The ``datasets/gmm.py`` built-in module (GMM2D, GMMParams, ...), imported as the registry does."""
    import importlib

    return importlib.import_module("benchmark.builtin.datasets.gmm")


def gmm_task(gmm: ModuleType, cls: str = "GMM2D", suite_seed: int = 0, trial: int = 0, **params: Any):
    """A gmm task object, e.g. ``gmm_task(gmm, n_target=10, n_source=1000)``."""
    task_cls = getattr(gmm, cls)
    return task_cls(task_cls.Params(**params), suite_seed, trial)


@pytest.fixture
def cli_main(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Call ``benchmark.cli.main`` in process; torch's thread count is restored afterwards."""
    from benchmark.cli import main

    threads = torch.get_num_threads()

    def call(*args: Any) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(False)
        out, err = capsys.readouterr()
        return code, out, err

    return call


def write_plugin(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source)
    return path
