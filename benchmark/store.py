"""Run folders and records: atomic writes, per-run locks, loading, archiving.

Layout of ``<results>/runs/<run_id>/``: ``spec.json``, ``record.json`` (written
atomically: a temp file in the same folder, fsync, then ``os.replace``), ``log.txt``,
``samples.npz`` (and ``outputs.npz``) and ``history/`` where earlier records (failed
attempts, records replaced by ``--force``, corrupt files) are moved.  Nothing finished is
ever deleted.

A done record lists its arrays with their SHA-256 (``"artifacts": {"samples.npz": hex}``);
:meth:`RunStore.state` checks the record against one schema (:func:`record_problem`) and
those hashes, so a damaged or missing array makes the run ``corrupt`` (shown by ``status``,
rerun by ``run``), never "done".  Files are created with the mode the umask allows
(``0o666 & ~umask``), so a colleague can read a shared results folder.  Read-only
commands never take a run's lock: :meth:`RunStore.is_locked` reads ``/proc/locks``.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Mapping, Optional

import numpy as np
from filelock import FileLock, Timeout

from benchmark.errors import BenchmarkError

DONE, FAILED, CORRUPT, MISSING, RUNNING = "done", "failed", "corrupt", "missing", "running"


def current_umask() -> int:
    """The process's umask (read from ``/proc/self/status`` where possible, which leaves it unchanged)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_with(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(fh)`` on a temp file in ``path``'s folder, fsync it, then rename it onto
    ``path``, so that readers see the old or the new file, never half of one.  The file gets
    mode ``0o666 & ~umask``, as ``open()`` would give it (``mkstemp`` alone gives 0600)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
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


def read_regular_text(path: Path) -> str:
    """The text of ``path``, which must be a regular file: a FIFO, device or folder of that
    name raises ``OSError`` instead of blocking (a FIFO's ``open`` waits for a writer)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return Path(path).read_text()


def sha256_file(path: Path) -> str:
    """SHA-256 hex of a regular file (``OSError`` for anything else, never a blocking FIFO)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> str:
    """Write ``arrays`` as a compressed ``.npz`` atomically and return its SHA-256.

    Unlike ``np.savez_compressed`` the zip entries carry a fixed timestamp, so the same
    arrays give the same bytes (and hash) on every run."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arrays[name]), allow_pickle=False)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def record_problem(record: Any) -> str:
    """Why ``record`` (parsed record.json) is not a valid record, or "" when it is.

    Schema: an object with ``status`` "done" or "failed", ``run_id`` (str) and ``spec``
    (object); a done record has ``metrics``, an object of metric name -> number, and may
    have ``artifacts``, an object of file name -> SHA-256 hex; a failed record's ``error``
    (if present) is an object."""
    if not isinstance(record, dict):
        return f"record.json holds a {type(record).__name__}, not an object"
    status = record.get("status")
    if status not in (DONE, FAILED):
        return f"unknown status {status!r}" if "status" in record else "no status"
    if not isinstance(record.get("run_id"), str):
        return "run_id is not a string"
    if not isinstance(record.get("spec"), dict):
        return "spec is not an object"
    if status == DONE:
        metrics = record.get("metrics")
        if not isinstance(metrics, dict):
            return "done record without metrics" if metrics is None else f"metrics is a {type(metrics).__name__}"
        bad = [k for k, v in metrics.items() if not _number(v)]
        if bad:
            return f"metric {bad[0]!r} is not a number ({metrics[bad[0]]!r})"
        artifacts = record.get("artifacts", {})
        if not isinstance(artifacts, dict) or not all(isinstance(v, str) for v in artifacts.values()):
            return "artifacts is not an object of file name -> sha256"
    elif "error" in record and not isinstance(record["error"], dict):
        return "error is not an object"
    return ""


def record_of_other_run(record: Mapping[str, Any], run_id: str) -> str:
    """Why ``record`` is not the record of the run in folder ``run_id`` ("" when it is).

    The record's spec must hash to the folder's run id (and its ``run_id`` say the same): a
    record copied from another run's folder, or edited to claim another spec, is not this
    run's result however valid it looks.  The id comes from :class:`benchmark.spec.RunSpec`
    itself, so this check follows any change of the run-id definition."""
    from benchmark.spec import RunSpec

    try:
        spec_id = RunSpec.from_dict(record["spec"]).run_id
    except Exception as exc:  # a spec that does not even parse
        return f"its spec does not parse ({type(exc).__name__}: {exc})"
    if spec_id != run_id and record.get("schema_version") == 1:
        from benchmark.spec import short_hash

        spec_id = short_hash(record["spec"])  # schema 1 hashed the spec with its suite name (reported as stale)
    if spec_id != run_id:
        return (f"it holds the spec of run {spec_id}, not of run {run_id[:40]}: copied from another run's folder? "
                "`run` will run this one again")
    if record.get("run_id") != run_id:
        return f"its run_id {str(record.get('run_id'))[:40]!r} is not the folder's {run_id[:40]}"
    return ""


def _flock_held(path: Path) -> bool:
    """Whether some process on this machine holds a lock on ``path``, read from ``/proc/locks``
    (Linux) without taking the lock; False where that file is not available.  (On NFS the
    kernel emulates ``flock`` with POSIX locks, hence both kinds; a holder on another host is
    not visible here: SLURM runs are shown from their job file instead.)"""
    try:
        st = os.stat(path)
        table = Path("/proc/locks").read_text()
    except OSError:
        return False
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] in ("FLOCK", "POSIX") and fields[5] == ident:  # "->": a waiter
            return True
    return False


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
        """Whether another process holds the run's lock (it is being executed).  Read-only:
        taking the lock even briefly would make a concurrent ``run`` skip the run."""
        return _flock_held(self.folder(run_id) / ".lock")

    def state(self, run_id: str) -> RecordState:
        """The run's status: missing, done, failed or corrupt (with the reason).  A done
        record whose arrays are missing or do not match their recorded hash is corrupt."""
        path = self.folder(run_id) / "record.json"
        if not os.path.lexists(path):
            return RecordState(MISSING, None, "not run")
        try:
            record = json.loads(read_regular_text(path))
        except OSError as exc:
            return RecordState(CORRUPT, None, f"cannot read record.json ({exc.strerror or exc})")
        except (ValueError, UnicodeDecodeError) as exc:
            return RecordState(CORRUPT, None, f"corrupt record.json ({exc})")
        problem = record_problem(record) or record_of_other_run(record, run_id)
        if problem:
            return RecordState(CORRUPT, None, f"corrupt record.json ({problem})")
        status = record["status"]
        if status == DONE:
            for name, digest in sorted(record.get("artifacts", {}).items()):
                file = self.folder(run_id) / name
                try:
                    ok = sha256_file(file) == digest
                except FileNotFoundError:
                    return RecordState(CORRUPT, None, f"{name} is missing")
                except OSError as exc:
                    return RecordState(CORRUPT, None, f"cannot read {name} ({exc.strerror or exc})")
                if not ok:
                    return RecordState(CORRUPT, None, f"{name} is damaged (its SHA-256 differs from the record's)")
        reason = str(record.get("error", {}).get("message", "")) if status == FAILED else ""
        return RecordState(status, record, reason)

    def archive(self, run_id: str, why: str) -> Optional[Path]:
        """Move the current record (and its samples and outputs) into ``history/``; returns where."""
        folder = self.folder(run_id)
        src = folder / "record.json"
        if not os.path.lexists(src):
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
        # strict JSON: a NaN or inf would make every later reader of the folder fail
        atomic_write_text(self.folder(run_id) / "record.json",
                          json.dumps(record, indent=2, sort_keys=True, allow_nan=False))

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
