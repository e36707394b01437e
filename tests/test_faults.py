"""Fault tests: each proves that nothing finished is lost.

* a process building a shared stage is frozen and killed while a second ``run`` process on
  the same results folder waits for that stage: the second takes over from the first's
  checkpoint (the plain two-processes case, with overlap proven by a barrier, is
  ``test_robustness.py::test_two_concurrent_runs_overlap_and_execute_each_run_once``);
* the results folder becomes unwritable in the middle of a ``run`` (directories frozen; the
  full-disk case, where the open log and new files cannot grow, is
  ``test_robustness.py::test_file_size_limit_mid_run_gives_one_line_and_loses_nothing``);
* a cached stage's payload is corrupted on disk.

SIGKILL of a single run is in ``test_checkpoint.py``; worker processes dying inside the
joblib, dask and slurm launchers are in ``test_launchers.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import RUN_FLAGS, by_method, one_error_line, popen_cli, records, run_counts


def _wait_for(predicate, procs, timeout: float = 300.0) -> None:
    start = time.monotonic()
    while not predicate():
        for proc in procs:
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"a process ended early (rc {proc.returncode}):\n{out}\n{err}")
        if time.monotonic() - start > timeout:
            for proc in procs:
                proc.kill()
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.mark.slow
def test_killed_stage_builder_is_taken_over_by_a_second_process(tmp_path: Path, cli_main) -> None:
    """Process A builds the source model (a checkpoint every 5 steps) and is frozen (SIGSTOP)
    while it holds the stage's lock.  B (this process), on the same results folder, needs the
    same stage and waits for the lock; A is killed meanwhile.  B gets the lock, resumes A's
    training from A's last checkpoint and finishes.  Running A's command again reuses the
    stage that B stored."""
    results = tmp_path / "r"
    common = ["--suite", "smoke", "--tasks", "gmm2d", "--set", "*.source_epochs=100", "--checkpoint-every", "5",
              "--results", results, "--deterministic", *RUN_FLAGS]
    a = popen_cli("run", "--methods", "source-only", *common)
    killer = threading.Timer(3.0, a.kill)  # started once A is frozen: kills it while B waits for the lock
    try:
        ckpts = lambda: sorted(results.glob("artifacts/source/*.ckpt/step-*.pt"))
        _wait_for(lambda: len(ckpts()) >= 2, [a])
        a.send_signal(signal.SIGSTOP)
        time.sleep(0.2)
        frozen_at = int(ckpts()[-1].name.split("-")[1])  # A's newest checkpoint; A writes no more
        killer.start()
        code, out, err = cli_main("run", "--methods", "finetune", *common)
    finally:
        killer.cancel()
        a.kill()
        a.communicate()
    assert code == 0, err
    assert run_counts(out) == {"done": 1}
    fin = by_method(results)["finetune"]
    log = (results / "runs" / fin["run_id"] / "log.txt").read_text()
    assert "source resumed from" in log and f"(step {frozen_at} of 400)" in log
    assert any(s.startswith("source/") for s in fin["stages"]["built"])
    assert "source-only" not in by_method(results), "A was killed before it wrote a record"

    code, out, err = cli_main("run", "--methods", "source-only", "finetune", *common)
    assert code == 0, err
    assert run_counts(out) == {"done": 1, "skipped": 1}
    src = by_method(results)["source-only"]
    assert src["status"] == "done" and any(s.startswith("source/") for s in src["stages"]["reused"])
    assert not list(results.glob("artifacts/source/*.ckpt"))


def _freeze(folder: Path) -> None:
    """Make every directory under ``folder`` refuse new entries (renames, creations, deletions).

    As root, permission bits do not stop writes, so the immutable attribute is used; the
    files themselves stay as they are."""
    dirs = [str(folder)] + [str(p) for p in folder.rglob("*") if p.is_dir()]
    if os.geteuid() == 0:
        proc = subprocess.run(["chattr", "+i", *dirs], capture_output=True, text=True)
        if proc.returncode != 0:
            _thaw(folder)
            raise RuntimeError(f"chattr: {proc.stderr.strip()}")
    else:
        for d in dirs:
            os.chmod(d, 0o555)


def _cannot_create(folder: Path) -> bool:
    try:
        (folder / "x").write_text("x")
    except OSError:
        return True
    return False


def _thaw(folder: Path) -> None:
    if os.geteuid() == 0:
        if shutil.which("chattr"):
            subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True)
    else:
        for d in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
            os.chmod(d, 0o755)


@pytest.mark.slow
def test_results_folder_becomes_unwritable_mid_run(tmp_path: Path, cli_main) -> None:
    """The runs folder stops accepting writes after the first record: the command ends with one
    clear line, every record written before stays byte for byte, and once the folder is
    writable again the same command finishes only the missing runs."""
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        _freeze(probe)
        blocked = _cannot_create(probe)
    except (RuntimeError, OSError) as exc:  # e.g. no chattr, or a file system without the attribute
        pytest.skip(f"cannot make a folder unwritable here ({exc})")
    finally:
        _thaw(probe)
    if not blocked:
        pytest.skip("cannot make a folder unwritable here")
    results = tmp_path / "r"
    args = ["run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "source-only", "finetune", "lora", "scratch",
            "target-oracle", "--results", results, *RUN_FLAGS]
    done = lambda: list(results.glob("runs/*/record.json"))
    before: dict[Path, bytes] = {}
    stop = threading.Event()

    def freeze_after_the_first_record() -> None:
        while not done():
            if stop.wait(0.01):
                return
        _freeze(results / "runs")
        before.update({p: p.read_bytes() for p in done()})

    watcher = threading.Thread(target=freeze_after_the_first_record, daemon=True)
    watcher.start()
    try:
        code, out, err = cli_main(*args)
    finally:
        stop.set()
        watcher.join(timeout=60)
        _thaw(results / "runs")
    assert code == 2, out + err
    line = one_error_line(err)
    assert "cannot write run" in line and "finished runs are kept" in line and "run the same command again" in line
    assert before, "the folder was frozen after the first record"
    assert all(p.read_bytes() == data for p, data in before.items()), "a finished record changed"
    # a run folder created just before the freeze may still have taken its record
    finished = {p: p.read_bytes() for p in done()}
    assert before.keys() <= finished.keys() and len(finished) < 5
    assert all(json.loads(data)["status"] == "done" for data in finished.values())

    code, out, err = cli_main(*args)
    assert code == 0, err
    counts = run_counts(out)
    assert counts["skipped"] == len(finished) and counts["done"] == 5 - len(finished)
    assert all(p.read_bytes() == data for p, data in finished.items())
    assert all(r["status"] == "done" for r in records(results).values())


@pytest.mark.slow
def test_corrupted_artifact_is_detected_by_its_hash_and_rebuilt(tmp_path: Path, cli_main) -> None:
    """One flipped byte in the cached source model: the next run that needs it detects the hash
    mismatch, moves the entry aside (kept, not deleted), rebuilds it, and gets the same bits."""
    results = tmp_path / "r"
    args = ["run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "source-only", "--results", results,
            "--deterministic", *RUN_FLAGS]
    code, _, err = cli_main(*args)
    assert code == 0, err
    first = by_method(results)["source-only"]
    (entry,) = [p for p in (results / "artifacts" / "source").iterdir() if p.is_dir()]
    payload = entry / "payload.pt"
    good = payload.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x01
    payload.write_bytes(bytes(bad))

    code, _, err = cli_main(*args, "--force")
    assert code == 0, err
    second = by_method(results)["source-only"]
    assert f"source/{entry.name}" in second["stages"]["built"]
    aside = [p for p in entry.parent.iterdir() if p.name.startswith(f"{entry.name}.damaged-")]
    assert len(aside) == 1 and (aside[0] / "payload.pt").read_bytes() == bytes(bad)
    assert payload.read_bytes() == good, "the rebuilt stage is bit-identical to the original"
    assert second["metrics"] == first["metrics"]
    history = list((results / "runs" / first["run_id"] / "history").glob("record.replaced.*.json"))
    assert len(history) == 1 and json.loads(history[0].read_text())["metrics"] == first["metrics"]
