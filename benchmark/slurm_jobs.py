"""The batch-system job of a run: ``<results>/runs/<run_id>/slurm.json``.

A launcher that hands runs to a batch system (``--launcher slurm``) writes the job id of
each run here at submission, and the reason when the job ended without a record.
``status`` reads it for runs that have no record, so a task that died before it could
write one (time limit, out of memory, node failure) is reported as failed, and a pending
or running SLURM task as queued or running (``sacct``, queried once for all runs).
Kept apart from the launcher so that ``status`` needs neither torch nor submitit for
results that never used SLURM.

Nothing here runs code from the results folder: submitit's result pickle (named by the
job file, which anyone who can write the folder can edit) is never unpickled; its opcodes
are only scanned (:func:`result_outcome`) for the leading ``"error"`` / ``"success"`` tag.
"""

from __future__ import annotations

import json
import pickletools
import shutil
from pathlib import Path
from typing import Any, Optional, Sequence

from benchmark.errors import BenchmarkError
from benchmark.store import FAILED, MISSING, RUNNING, atomic_write_text, read_regular_text

JOB_FILE = "slurm.json"
QUEUED = "queued"
_SLURM_QUEUED = {"PENDING", "REQUEUED", "CONFIGURING", "RESIZING", "SUSPENDED", "REQUEUE_HOLD", "REQUEUE_FED"}
_SLURM_RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}


def write_job_file(folder: Path, info: dict[str, Any]) -> None:
    """Write a run's job file atomically (one clear line if the folder is not writable)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / JOB_FILE, json.dumps(info, indent=2, sort_keys=True))
    except OSError as exc:
        raise BenchmarkError(f"cannot write {folder / JOB_FILE} ({exc}); make the results folder writable "
                             "and run the same command again") from None


def last_line(text: str) -> str:
    """The last meaningful line of a traceback or log (the exception message)."""
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip() and not set(ln.strip()) <= {"-"}]
    return lines[-1] if lines else "no message"


def _read(folder: Path) -> Optional[dict[str, Any]]:
    """The job file as an object, or None (absent, not a regular file, not a JSON object)."""
    try:
        info = json.loads(read_regular_text(folder / JOB_FILE))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


#: opcodes that push a str: the outcome tag and the traceback of submitit's result tuple
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}
_MAX_RESULT_BYTES = 1 << 20


def result_outcome(path: Path) -> tuple[str, str]:
    """(``"error"`` / ``"success"`` / ``"unknown"``, message) of a submitit result pickle,
    read **without unpickling it**: the opcodes are scanned (:func:`pickletools.genops` only
    parses) for the tuple's first string (the tag) and, for ``"error"``, the next (the
    traceback).  Anything else (a crafted file, a result object) is ``"unknown"``."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_RESULT_BYTES)
        strings = []
        for op, arg, _ in pickletools.genops(data):
            if op.name in _STRING_OPS and isinstance(arg, str):
                strings.append(arg)
                if len(strings) == 2:
                    break
    except Exception:  # unreadable or malformed: say only what is certain
        return "unknown", ""
    tag = strings[0] if strings else ""
    if tag == "error":
        return "error", strings[1] if len(strings) > 1 else "no message"
    return ("success", "") if tag == "success" else ("unknown", "")


def _result_pickle(info: dict[str, Any], job_id: str) -> Path:
    """submitit's ``<folder>/<job_id>_0_result.pkl`` (``JobPaths.result_pickle`` of task 0)."""
    from submitit.core.utils import JobPaths

    return JobPaths(str(info.get("folder", ".")), job_id=job_id, task_id=0).result_pickle


def job_states(run_folders: Sequence[Path]) -> dict[Path, tuple[str, str]]:
    """(status, reason) from the submitit jobs of runs that have no record.

    Only folders with a ``slurm.json`` appear.  A task that failed before writing a
    record is ``failed`` with the reason; a pending or running SLURM task is ``queued``
    or ``running`` (from ``sacct``, queried once for all); otherwise ``missing``.
    """
    infos = {f: info for f in run_folders if (info := _read(Path(f))) is not None}
    if not infos:
        return {}
    slurm_jobs: dict[Path, Any] = {}
    if any(i.get("cluster") == "slurm" for i in infos.values()) and shutil.which("sacct"):
        import submitit

        slurm_jobs = {f: submitit.SlurmJob(folder=i["folder"], job_id=i["job_id"])
                      for f, i in infos.items() if i.get("cluster") == "slurm" and "error" not in i}
    out: dict[Path, tuple[str, str]] = {}
    for folder, info in infos.items():
        jid, cluster = info.get("job_id", "?"), info.get("cluster", "slurm")
        where = f"{cluster} job {jid}"
        if "error" in info:
            out[folder] = (FAILED, f"failed in {where}: {info['error']}")
            continue
        result = _result_pickle(info, str(jid))
        if result.is_file():
            outcome, value = result_outcome(result)
            if outcome == "error":
                out[folder] = (FAILED, f"failed in {where}: {last_line(str(value))}")
            else:
                out[folder] = (MISSING, f"{where} finished without writing a record")
            continue
        state = "UNKNOWN"
        if folder in slurm_jobs:
            try:
                state = str(slurm_jobs[folder].state).split()[0].upper()
            except Exception:  # sacct unavailable or slow: report what is known
                state = "UNKNOWN"
        if state in _SLURM_QUEUED:
            out[folder] = (QUEUED, f"{where} {state.lower()}")
        elif state in _SLURM_RUNNING:
            out[folder] = (RUNNING, f"{where} running")
        elif state == "UNKNOWN":
            out[folder] = (MISSING, f"submitted as {where}; no record yet")
        else:
            out[folder] = (FAILED, f"failed in {where} ({state}); see {info.get('stderr', info.get('folder'))}")
    return out
