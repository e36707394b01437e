"""Run folders and records: atomic writes, per-run locks, loading, archiving.

Layout of ``<results>/runs/<run_id>/``: ``spec.json``, ``record.json`` (written
atomically: a temp file in the same folder, fsync, then ``os.replace``), ``log.txt``,
``samples.npz`` and ``history/`` where earlier records (failed attempts, records
replaced by ``--force``, corrupt files) are moved.  Nothing finished is ever deleted.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Optional

from filelock import FileLock, Timeout

from benchmark.errors import BenchmarkError

DONE, FAILED, CORRUPT, MISSING, RUNNING = "done", "failed", "corrupt", "missing", "running"


def atomic_write_with(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(fh)`` on a temp file in ``path``'s folder, fsync it, then rename it onto
    ``path``, so that readers see the old or the new file, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_with`)."""
    atomic_write_with(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def check_writable(root: Path) -> Path:
    """Create ``root`` if needed and prove it is writable, or fail with one line."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BenchmarkError(
            f"results folder {root} is not writable ({exc.strerror or exc}); pass a writable folder with --results DIR"
        ) from None
    return root


@dataclass(frozen=True)
class RecordState:
    """What is on disk for one run: its status and the record (if readable)."""

    status: str
    record: Optional[dict[str, Any]]
    reason: str = ""


class RunStore:
    """The ``runs/`` folder of a results directory."""

    def __init__(self, results: Path) -> None:
        self.results = Path(results)
        self.runs = self.results / "runs"

    def folder(self, run_id: str) -> Path:
        return self.runs / run_id

    def lock(self, run_id: str) -> FileLock:
        self.folder(run_id).mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.folder(run_id) / ".lock"))

    def try_lock(self, run_id: str) -> Optional[FileLock]:
        """Acquire the run's lock without waiting, or return None if another process holds it."""
        lock = self.lock(run_id)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return None
        return lock

    def is_locked(self, run_id: str) -> bool:
        if not (self.folder(run_id) / ".lock").exists():
            return False
        lock = FileLock(str(self.folder(run_id) / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    def state(self, run_id: str) -> RecordState:
        path = self.folder(run_id) / "record.json"
        if not path.exists():
            return RecordState(MISSING, None, "not run")
        try:
            record = json.loads(path.read_text())
            status = record["status"]
            if status not in (DONE, FAILED):
                raise ValueError(f"unknown status {status!r}")
            if status == DONE and "metrics" not in record:
                raise ValueError("done record without metrics")
        except (ValueError, KeyError, TypeError) as exc:
            return RecordState(CORRUPT, None, f"corrupt record.json ({exc})")
        reason = record.get("error", {}).get("message", "") if status == FAILED else ""
        return RecordState(status, record, reason)

    def archive(self, run_id: str, why: str) -> Optional[Path]:
        """Move the current record (and its samples and outputs) into ``history/``; returns where."""
        folder = self.folder(run_id)
        src = folder / "record.json"
        if not src.exists():
            return None
        hist = folder / "history"
        hist.mkdir(exist_ok=True)
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}"
        dst = hist / f"record.{why}.{stamp}.json"
        os.replace(src, dst)
        for name in ("samples", "outputs"):  # the arrays that belong to this record
            if (folder / f"{name}.npz").exists():
                os.replace(folder / f"{name}.npz", hist / f"{name}.{why}.{stamp}.npz")
        return dst

    def write_spec(self, run_id: str, spec_dict: dict[str, Any]) -> None:
        folder = self.folder(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "spec.json", json.dumps(spec_dict, indent=2, sort_keys=True))

    def write_record(self, run_id: str, record: dict[str, Any]) -> None:
        atomic_write_text(self.folder(run_id) / "record.json", json.dumps(record, indent=2, sort_keys=True))

    def run_ids(self) -> Iterator[str]:
        if self.runs.is_dir():
            for p in sorted(self.runs.iterdir()):
                if p.is_dir() and (p / "spec.json").exists():
                    yield p.name

    def done_records(self) -> list[dict[str, Any]]:
        out = []
        for rid in self.run_ids():
            st = self.state(rid)
            if st.status == DONE and st.record is not None:
                out.append(st.record)
        return out
