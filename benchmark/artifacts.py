"""Content-addressed cache of shared stages (source models, classifiers, guidance ...).

An entry lives in ``<results>/artifacts/<stage>/<key>/`` where ``key`` is a short
SHA-256 of everything the stage depends on, including the execution context that changes
its bits (device type, torch thread count, determinism): a source model trained at two
threads is never reused by a one-thread run.  It holds ``payload.pt`` and ``meta.json``
with the payload's SHA-256 and the full key it was built for.  A payload holds tensors and plain
data only (dicts, lists, tuples, str, numbers, None: models as state dicts) and is loaded with
``torch.load(weights_only=True)``, so a planted file cannot run code; an entry whose stored
key is not the requested one (files copied from another key's folder) or that no longer
loads that way (written by an older version) is treated like a damaged one.  Builds run under a file lock, so concurrent processes
build a stage once; a payload whose hash no longer matches is detected, moved aside
(``damaged-<time>``, never silently deleted) and rebuilt.  A long build may checkpoint its
training into ``<stage>/<key>.ckpt/`` (:meth:`ArtifactCache.checkpoint_dir`), so a build
killed half-way resumes there; the folder is removed once the payload is stored.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import torch
from filelock import FileLock

from benchmark.spec import canonical_json, short_hash
from benchmark.store import atomic_write_bytes, atomic_write_text

log = logging.getLogger("benchmark.artifacts")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_SCALARS = (str, int, float, bool, type(None))  # exact types: a numpy float64 is a float subclass


def plain_payload_problem(obj: Any, where: str = "payload") -> str:
    """Where ``obj`` holds something other than tensors and plain data ("" when it does not).

    Plain: tensors, str, int, float, bool, None, and lists, tuples and str-keyed dicts of
    them: what ``torch.load(weights_only=True)`` reads back.  A model goes in as its
    ``state_dict()`` plus the plain config needed to rebuild it."""
    if type(obj) in _SCALARS or isinstance(obj, torch.Tensor):
        return ""
    if type(obj) in (list, tuple):
        return next((p for i, v in enumerate(obj) if (p := plain_payload_problem(v, f"{where}[{i}]"))), "")
    if type(obj) in (dict, OrderedDict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                return f"{where} has a key of type {type(k).__name__}"
            problem = plain_payload_problem(v, f"{where}[{k!r}]")
            if problem:
                return problem
        return ""
    return f"{where} is a {type(obj).__module__}.{type(obj).__name__}"


class ArtifactCache:
    """Get-or-build cache of torch-serialisable payloads keyed by their dependencies."""

    def __init__(self, root: Path, execution: dict[str, Any] | None = None) -> None:
        self.root = Path(root)
        self.execution = dict(execution or {})
        self.hits: list[str] = []
        self.builds: list[str] = []
        #: per built stage "<stage>/<key>": {"wall_s", "cpu_s"} of its build, exclusive of the builds of
        #: other stages nested in it (load and save excluded)
        self.build_times: dict[str, dict[str, float]] = {}
        self._nested: list[list[float]] = []  # [wall, cpu] of the nested builds, per open build
        #: per stage got by this cache "<stage>/<key>": the wall seconds of its build (exclusive of nested
        #: builds), from this run's build or from ``build_s`` in a reused entry's meta.json (None for an
        #: entry written before build_s was stored); what the runs' cost blocks count for a cached stage
        self.seconds: dict[str, float | None] = {}
        self._loaded_build_s: float | None = None

    def full_key(self, key: dict[str, Any]) -> dict[str, Any]:
        """``key`` plus the execution context (omitted when empty, e.g. for metric caches in tests)."""
        return {**key, "_execution": self.execution} if self.execution else dict(key)

    def path(self, stage: str, key: dict[str, Any]) -> Path:
        return self.root / stage / short_hash(self.full_key(key))

    def checkpoint_dir(self, stage: str, key: dict[str, Any]) -> Path:
        """Where the build of ``(stage, key)`` keeps its training checkpoints."""
        folder = self.path(stage, key)
        return folder.with_name(folder.name + ".ckpt")

    def build_seconds(self, stage: str, key: dict[str, Any]) -> float | None:
        """The build seconds of ``(stage, key)`` got through this cache (:attr:`seconds`), else those
        stored in its meta.json if the entry exists (a stage reused without being loaded here), else None."""
        name = f"{stage}/{self.path(stage, key).name}"
        if name in self.seconds:
            return self.seconds[name]
        try:
            value = json.loads((self.path(stage, key) / "meta.json").read_text()).get("build_s")
        except (OSError, ValueError):
            return None
        return float(value) if isinstance(value, (int, float)) else None

    def _load(self, folder: Path, key: dict[str, Any]) -> Any | None:
        meta_path, payload_path = folder / "meta.json", folder / "payload.pt"
        if not meta_path.exists() or not payload_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("key") != json.loads(canonical_json(self.full_key(key))):
                raise ValueError("its stored key is not the requested one (files of another entry?)")
            data = payload_path.read_bytes()
            if _sha256(data) != meta["sha256"]:
                raise ValueError("payload hash mismatch")
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            build_s = meta.get("build_s")
            self._loaded_build_s = float(build_s) if isinstance(build_s, (int, float)) else None
            return payload
        except Exception as exc:  # damaged entry: keep it aside, rebuild
            aside = folder.with_name(f"{folder.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
            log.warning("artifact %s is damaged (%s); moved to %s and rebuilding", folder, exc, aside.name)
            os.replace(folder, aside)
            return None

    def get_or_build(self, stage: str, key: dict[str, Any], build: Callable[[], Any]) -> Any:
        """Return the cached payload for ``(stage, key)``, building it once if needed."""
        folder = self.path(stage, key)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            payload = self._load(folder, key)
            if payload is not None:
                self.hits.append(f"{stage}/{folder.name}")
                self.seconds[f"{stage}/{folder.name}"] = self._loaded_build_s
                return payload
            w0, c0 = time.perf_counter(), time.process_time()
            self._nested.append([0.0, 0.0])
            try:
                payload = build()
            finally:
                inner = self._nested.pop()
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            if self._nested:
                self._nested[-1][0] += wall
                self._nested[-1][1] += cpu
            wall, cpu = wall - inner[0], cpu - inner[1]
            problem = plain_payload_problem(payload)
            if problem:
                raise TypeError(f"stage {stage} built a payload that is not tensors and plain data ({problem}); "
                                "store models as state dicts")
            buf = io.BytesIO()
            torch.save(payload, buf)
            data = buf.getvalue()
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(folder / "payload.pt", data)
            atomic_write_text(folder / "meta.json", canonical_json({"stage": stage, "key": self.full_key(key),
                                                                    "sha256": _sha256(data), "build_s": wall}))
            shutil.rmtree(self.checkpoint_dir(stage, key), ignore_errors=True)
            self.builds.append(f"{stage}/{folder.name}")
            self.build_times[f"{stage}/{folder.name}"] = {"wall_s": wall, "cpu_s": cpu}
            self.seconds[f"{stage}/{folder.name}"] = wall
            return payload
