"""The dask, slurm (submitit's local executor) and joblib launchers give the local launcher's
records, and a worker process that dies inside them loses nothing finished.

The dying worker is a plugin method, ``crash-once``, that SIGKILLs its own process the
first time it is fitted (a marker file remembers) and behaves like ``source-only`` after.
All runs use ``--deterministic --threads 1``, so equal records means equal bits.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (REPO_ROOT, RUN_FLAGS, by_method, cli_env, one_error_line, records, run_counts, snapshot,
                      write_plugin)

METHODS = ("source-only", "finetune", "lora", "tgdp")  # a cached source, a cached finetune, run-local, TGDP stages

CRASH_ONCE = '''
"""crash-once: SIGKILLs its own process on the first fit, then behaves like source-only."""

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from benchmark.registry import register_method
from benchmark.denoiser_methods import DenoiserMethod, DenoiserParams, source_denoiser


@dataclass(frozen=True)
class CrashParams(DenoiserParams):
    marker: str = ""


@register_method("crash-once", "SIGKILLs its process on the first fit (fault tests)")
class CrashOnce(DenoiserMethod):
    Params = CrashParams

    def fit(self, ctx):
        marker = Path(self.params.marker)
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        self._bind(ctx, source_denoiser(ctx, self.params))
'''


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke runs of METHODS with the local launcher, in this process."""
    import torch

    from benchmark.cli import main

    results = tmp_path_factory.mktemp("local") / "r"
    threads = torch.get_num_threads()
    try:
        code = main(["run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", *METHODS, "--results", str(results), "--deterministic",
                     *RUN_FLAGS])
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)
    assert code == 0
    return results


def _crash_args(tmp_path: Path) -> tuple[list[str], Path]:
    plugins = write_plugin(tmp_path / "plugins", "crash_once", CRASH_ONCE).parent
    marker = tmp_path / "crashed.pid"
    return ["--plugins", str(plugins), "--set", f"crash-once.marker={marker}"], marker


def _assert_same_metrics(results: Path, reference: Path, methods) -> None:
    got, ref = by_method(results), by_method(reference)
    for m in methods:
        assert got[m]["status"] == "done", m
        assert got[m]["run_id"] == ref[m]["run_id"], m
        assert got[m]["metrics"] == ref[m]["metrics"], m


@pytest.mark.slow
def test_dask_matches_local_and_survives_a_dead_worker(reference: Path, tmp_path: Path, cli_main) -> None:
    results = tmp_path / "r"
    crash, marker = _crash_args(tmp_path)
    code, out, err = cli_main("run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", *METHODS, "crash-once", *crash,
                              "--launcher", "dask", "--results", results, "--deterministic", *RUN_FLAGS, "--jobs", "2")
    assert code == 0, out + err
    assert marker.exists(), "a dask worker was killed"
    counts = run_counts(out)  # a task whose result lived on the killed worker is recomputed: it is skipped
    assert set(counts) <= {"done", "skipped"} and sum(counts.values()) == len(METHODS) + 1
    _assert_same_metrics(results, reference, METHODS)
    for rid, rec in records(results).items():
        log = (results / "runs" / rid / "log.txt").read_text()
        starts = 2 if rec["spec"]["method"] == "crash-once" else 1  # the killed attempt, then the rerun
        assert log.count(" INFO start ") == starts and log.count(" INFO done ") == 1, rec["spec"]["method"]
        assert not (results / "runs" / rid / "history").exists()


@pytest.mark.slow
def test_slurm_local_executor_matches_local_and_status_reports_the_dead_task(reference: Path, tmp_path: Path,
                                                                            cli_main) -> None:
    results = tmp_path / "r"
    crash, marker = _crash_args(tmp_path)
    select = ["--suite", "smoke", "--tasks", "gmm2d", "--methods", "lora", "crash-once", *crash, "--results", results]
    args = ["run", *select, "--launcher", "slurm", "--slurm-cluster", "local", "--slurm-time", "10",
            "--slurm-array-parallelism", "2", "--deterministic", *RUN_FLAGS]
    code, out, err = cli_main(*args)
    assert code == 1, out + err
    assert marker.exists() and run_counts(out) == {"done": 1, "failed": 1}
    _assert_same_metrics(results, reference, ("lora",))
    code, out, _ = cli_main("status", *select)
    crash_rid = next(p.name for p in (results / "runs").iterdir() if not (p / "record.json").exists())
    line = next(ln for ln in out.splitlines() if ln.startswith("failed: "))
    assert crash_rid in line and "crash-once" in line and "failed in local job" in line and "died without a result" in line
    assert "total: done 1, failed 1" in out

    finished = {p: p.read_bytes() for p in results.glob("runs/*/record.json")}
    jobs = {p: json.loads(p.read_text())["job_id"] for p in results.glob("runs/*/slurm.json")}
    code, out, err = cli_main(*args)
    assert code == 0, out + err
    assert run_counts(out) == {"done": 1, "skipped": 1}  # only the dead task is submitted again
    assert all(p.read_bytes() == data for p, data in finished.items())
    resubmitted = [p for p, jid in jobs.items() if json.loads(p.read_text())["job_id"] != jid]
    assert [p.parent.name for p in resubmitted] == [crash_rid]
    assert by_method(results)["crash-once"]["status"] == "done"


@pytest.mark.slow
def test_joblib_worker_death_loses_nothing_finished(reference: Path, tmp_path: Path, cli_main, caplog) -> None:
    """source-only is done before; lora's folder is removed so it runs again; crash-once kills
    its loky worker, which breaks the pool: the unfinished runs are submitted again."""
    results = Path(shutil.copytree(reference, tmp_path / "r"))
    shutil.rmtree(results / "runs" / by_method(reference)["lora"]["run_id"])
    done_before = snapshot(results / "runs" / by_method(reference)["source-only"]["run_id"])
    crash, marker = _crash_args(tmp_path)
    code, out, err = cli_main("run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "source-only", "lora", "crash-once", *crash,
                              "--results", results, "--deterministic", *RUN_FLAGS, "--jobs", "2")
    assert code == 0, out + err
    assert marker.exists() and "a joblib worker died" in caplog.text
    counts = run_counts(out)
    assert counts.get("skipped", 0) >= 1 and counts.get("done", 0) >= 1 and set(counts) <= {"done", "skipped"}
    assert snapshot(results / "runs" / by_method(reference)["source-only"]["run_id"]) == done_before
    _assert_same_metrics(results, reference, ("source-only", "lora"))
    assert by_method(results)["crash-once"]["status"] == "done"


def test_launcher_flags_belong_to_their_launcher(cli_main, tmp_path: Path) -> None:
    code, _, err = cli_main("run", "--suite", "smoke", "--tasks", "gmm2d", "--results", tmp_path / "r", "--scheduler", "tcp://x:1",
                            *RUN_FLAGS)
    assert code == 2 and "--scheduler only applies to --launcher dask" in err
    code, _, err = cli_main("run", "--suite", "smoke", "--tasks", "gmm2d", "--results", tmp_path / "r", "--launcher", "dask",
                            "--slurm-partition", "gpu", *RUN_FLAGS)
    assert code == 2 and "--slurm-partition only applies to --launcher slurm" in err
    code, _, err = cli_main("run", "--suite", "smoke", "--tasks", "gmm2d", "--results", tmp_path / "r", "--launcher", "slurm",
                            "--slurm-cluster", "local", "--slurm-time", "0", *RUN_FLAGS)
    assert code == 2 and "--slurm-time 0 is not allowed" in err
    assert not (tmp_path / "r").exists()


def test_status_reads_the_job_file_of_runs_without_a_record(tmp_path: Path, monkeypatch) -> None:
    """``status`` for SLURM runs with no record: a failure noted by the launcher, a task whose
    result file holds an exception, and a task whose state is unknown (no sacct here)."""
    from submitit.core.utils import JobPaths, cloudpickle_dump

    from benchmark.slurm_jobs import job_states, write_job_file

    monkeypatch.setattr("shutil.which", lambda name: None)  # no sacct on this machine
    logs = tmp_path / "slurm"
    logs.mkdir()
    noted, raised, unknown, plain = (tmp_path / "runs" / n for n in ("a", "b", "c", "d"))
    plain.mkdir(parents=True)
    base = {"cluster": "slurm", "folder": str(logs), "stderr": str(logs / "x.err"), "submitted": 0.0}
    write_job_file(noted, {**base, "job_id": "7_0", "error": "the task ended without a result (state TIMEOUT)"})
    write_job_file(raised, {**base, "job_id": "7_1"})
    cloudpickle_dump(("error", "Traceback (most recent call last):\n  ...\nValueError: boom\n"),
                     JobPaths(logs, job_id="7_1", task_id=0).result_pickle)
    write_job_file(unknown, {**base, "job_id": "7_2"})
    states = job_states([noted, raised, unknown, plain])
    assert states[noted] == ("failed", "failed in slurm job 7_0: the task ended without a result (state TIMEOUT)")
    assert states[raised] == ("failed", "failed in slurm job 7_1: ValueError: boom")
    assert states[unknown] == ("missing", "submitted as slurm job 7_2; no record yet")
    assert plain not in states


def test_joblib_default_jobs_match_local_bit_for_bit(reference: Path, tmp_path: Path, cli_main) -> None:
    """The thread count belongs to the run, not to the launcher: `--launcher joblib --jobs 2`
    (the default on a 2-core machine) gives the local launcher's metrics, bit for bit, and
    every record says it ran on the suite's one thread."""
    results = tmp_path / "r"
    code, out, err = cli_main("run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", *METHODS, "--results", results,
                              "--deterministic", *RUN_FLAGS, "--launcher", "joblib", "--jobs", "2")
    assert code == 0, out + err
    _assert_same_metrics(results, reference, METHODS)
    for rec in records(results).values():
        assert rec["spec"].get("threads", 1) == 1 and rec["environment"]["torch_threads"] == 1


def test_threads_override_is_part_of_the_run_id(reference: Path, cli_main) -> None:
    """--threads 2 plans other runs (other ids, threads=2 in the spec), so it can never be
    mistaken for the suite's one-thread records; status of the suite's runs ignores them."""
    select = ("--suite", "smoke", "--tasks", "gmm2d", "--methods", *METHODS, "--results", reference)
    code, out, _ = cli_main("status", *select)
    assert code == 0 and f"total: done {len(METHODS)}" in out
    code, out, _ = cli_main("status", *select, "--threads", "2")
    assert code == 0 and "done" not in out.split("total:")[-1]
    code, _, err = cli_main("status", *select, "--threads", "0")
    assert code == 2 and "--threads 0 is not allowed" in err


def test_default_jobs_divide_the_cores_by_the_runs_threads(monkeypatch) -> None:
    """`--threads 2` on 2 cores runs one run at a time instead of 4 threads on 2 cores."""
    from types import SimpleNamespace

    from benchmark import cli

    monkeypatch.setattr(cli, "usable_cores", lambda: 8)
    one, two = SimpleNamespace(threads=1), SimpleNamespace(threads=2)
    assert cli.default_jobs([one, one]) == 8
    assert cli.default_jobs([one, two]) == 4
    assert cli.default_jobs([SimpleNamespace(threads=16)]) == 1
    assert cli.default_jobs([]) == 8


def _session_processes(sid: int) -> list[int]:
    """PIDs of live (not zombie) processes in session ``sid``, read from /proc (Linux)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        state, session = fields[0], int(fields[3])  # fields after "pid (comm)": state ppid pgrp session
        if session == sid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.parametrize("launcher", ["joblib", "dask"])
def test_sigterm_to_run_stops_its_workers(tmp_path: Path, launcher: str) -> None:
    """``kill PID`` (SIGTERM to the parent only, as a scheduler's time limit sends it) ends ``run``
    like Ctrl-C: the one "interrupted" line, exit status 143, and no worker left running its run
    (before, the loky workers went on writing into the results folder with nobody waiting).
    For dask the workers are the processes of its local cluster (a nanny and a worker each)."""
    results = tmp_path / "results"
    # two runs long enough to be interrupted (scratch with a million steps), one per worker
    args = ["run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "scratch", "--n-target", "10",
            "--seeds", "0", "1", "--set", "scratch.steps=1000000", "--results", str(results), "--quiet",
            "--no-report", "--jobs", "2", "--launcher", launcher]
    stderr = tmp_path / "stderr.txt"  # a file, not a pipe: a surviving worker would hold a pipe open
    with stderr.open("w") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=REPO_ROOT, env=cli_env(),
                                stdout=subprocess.DEVNULL, stderr=err_file, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(results.glob("runs/*/"))) < 2:  # both workers have started a run
            assert proc.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline, "the runs did not start"
            time.sleep(0.2)
        assert len(_session_processes(proc.pid)) >= 3  # the parent and its two workers
        proc.send_signal(signal.SIGTERM)  # to the parent only
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _session_processes(proc.pid) == [], "a worker outlived the interrupted run"
        err = stderr.read_text()
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert one_error_line(err).startswith("error: interrupted; finished runs are kept")
        assert not list(results.glob("runs/*/record.json"))  # nothing was finished, nothing claims so
    finally:
        for pid in _session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_sigkill_of_run_ends_its_joblib_workers(tmp_path: Path) -> None:
    """SIGKILL of the ``run`` parent (no handler runs) leaves no joblib worker going on with its
    queued runs (before, they ran for about 5 minutes): each worker watches its parent."""
    results = tmp_path / "results"
    args = ["run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "scratch", "--n-target", "10",
            "--seeds", "0", "1", "2", "3", "--set", "scratch.steps=1000000", "--results", str(results), "--quiet",
            "--no-report", "--jobs", "2", "--launcher", "joblib"]
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=REPO_ROOT, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(results.glob("runs/*/"))) < 2:  # both workers have started a run
            assert proc.poll() is None
            assert time.monotonic() < deadline, "the runs did not start"
            time.sleep(0.2)
        proc.kill()  # SIGKILL to the parent only
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _session_processes(proc.pid) == [], "a joblib worker outlived the killed run"
        assert not list(results.glob("runs/*/record.json"))
    finally:
        for pid in _session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
