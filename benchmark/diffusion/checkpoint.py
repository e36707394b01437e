"""Training checkpoints: atomic, hash-named, newest-few, and a bit-identical resume.

A checkpoint taken after ``s`` completed optimiser steps is the file

    <folder>/step-<s:08d>-<h>.pt,   h = the first 16 hex digits of SHA-256(file bytes),

written atomically (temp file in the same folder, fsync, ``os.replace``), so a reader sees a
whole file or none.  It holds everything step ``s + 1`` depends on:

    trainable parameters theta_s, the buffers of the trained modules, the optimiser state
    (Adam's m_s, v_s and step count), the EMA copies, the states of the generators the loss
    draws its mini-batches, times and noise from, torch's global CPU (and CUDA) RNG state,
    and the loss trace l_1 .. l_s.

So "load the state of step s, run steps s+1 .. N" performs exactly the operations of an
uninterrupted run on the same values: with deterministic algorithms on the CPU the final
parameters are bit-identical.  Loading takes the newest file whose hash matches its bytes and
whose signature (total steps, learning rate, parameter shapes ...) matches the training, so
a file damaged on disk or left by a different training is skipped with a warning, never
trusted.  Only the newest ``keep`` files are kept.

The owner of a training removes its folder once the trained result is stored (the artifact
cache after writing a stage's payload, the runner after writing a done record).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from benchmark.store import atomic_write_bytes

_NAME = re.compile(r"^step-(\d{8})-([0-9a-f]{16})\.pt$")
_log = logging.getLogger("benchmark.checkpoint")


@dataclass(frozen=True)
class CheckpointSpec:
    """Where and how often a training saves its state.

    Attributes:
        folder: the training's own checkpoint folder (created on the first save).
        every: save after every ``every`` completed steps (and at the end of a training of
            at least ``every`` steps); 0 disables checkpoints.
        keep: how many of the newest checkpoints to keep (at least 1).
    """

    folder: Path
    every: int = 200
    keep: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder))
        if self.every < 0 or self.keep < 1:
            raise ValueError(f"checkpoint every={self.every} keep={self.keep}: need every >= 0 and keep >= 1")

    def due(self, done: int, steps: int) -> bool:
        """Whether to save after ``done`` of ``steps`` steps."""
        if self.every <= 0:
            return False
        return done % self.every == 0 or (done == steps and steps >= self.every)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


@dataclass
class TrainState:
    """The mutable state of one ``optimise`` call that a checkpoint captures.

    ``params`` are the trainable parameters (in the optimiser's order), ``ema`` their EMA
    copies or None, ``generators`` the generators the loss function draws from and
    ``modules`` the modules whose buffers change during training.
    """

    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    ema: Optional[list[torch.Tensor]] = None
    generators: Sequence[torch.Generator] = ()
    modules: Sequence[nn.Module] = ()
    signature: dict[str, Any] = field(default_factory=dict)

    def _buffers(self) -> list[torch.Tensor]:
        return [b for m in self.modules for b in m.buffers()]

    def state_dict(self, step: int, trace: list[float]) -> dict[str, Any]:
        return {
            "step": int(step),
            "signature": self.signature,
            "params": [p.detach().cpu().clone() for p in self.params],
            "buffers": [b.detach().cpu().clone() for b in self._buffers()],
            "optimizer": self.optimizer.state_dict(),
            "ema": None if self.ema is None else [e.detach().cpu().clone() for e in self.ema],
            "generators": [g.get_state() for g in self.generators],
            "rng": _rng_state(),
            "trace": torch.tensor(trace, dtype=torch.float64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> tuple[int, list[float]]:
        """Restore everything; returns (completed steps, loss trace)."""
        with torch.no_grad():
            for p, saved in zip(self.params, state["params"], strict=True):
                p.copy_(saved)
            for b, saved in zip(self._buffers(), state["buffers"], strict=True):
                b.copy_(saved)
            if self.ema is not None:
                for e, saved in zip(self.ema, state["ema"], strict=True):
                    e.copy_(saved)
        self.optimizer.load_state_dict(state["optimizer"])
        for g, saved in zip(self.generators, state["generators"], strict=True):
            g.set_state(saved)
        _set_rng_state(state["rng"])
        return int(state["step"]), [float(v) for v in state["trace"].tolist()]


def _files(folder: Path) -> list[tuple[int, str, Path]]:
    """Checkpoint files as (step, hash, path), newest first."""
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), m.group(2), p))
    return sorted(found, reverse=True)


def save(spec: CheckpointSpec, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically under a hash-carrying name, then prune to ``keep`` files."""
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    spec.folder.mkdir(parents=True, exist_ok=True)
    path = spec.folder / f"step-{state['step']:08d}-{hashlib.sha256(data).hexdigest()[:16]}.pt"
    atomic_write_bytes(path, data)
    for _, _, old in _files(spec.folder)[spec.keep:]:
        old.unlink(missing_ok=True)
    return path


def load_latest(spec: CheckpointSpec, signature: dict[str, Any],
                log: Optional[logging.Logger] = None) -> Optional[tuple[Path, dict[str, Any]]]:
    """The newest intact checkpoint of this training, or None.

    Leftover temp files of an interrupted save are removed; a file whose bytes do not
    match its hash, that does not load, or whose signature differs is skipped.
    """
    log = log or _log
    if not spec.folder.is_dir():
        return None
    for tmp in spec.folder.glob(".step-*.tmp"):
        tmp.unlink(missing_ok=True)
    for step, digest, path in _files(spec.folder):
        try:
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest()[:16] != digest:
                raise ValueError("bytes do not match the hash in the name")
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            if state.get("signature") != signature:
                raise ValueError("it belongs to a different training")
        except Exception as exc:  # damaged or foreign: skip it, try an older one
            log.warning("checkpoint %s skipped: %s", path, exc)
            continue
        return path, state
    return None


def clear(folder: Path) -> None:
    """Remove a training's checkpoint folder (after its result is stored)."""
    shutil.rmtree(folder, ignore_errors=True)
