"""Typed, frozen run specifications and suites, their canonical JSON and ``run_id``.

A :class:`RunSpec` is one experiment cell: (suite_seed, task, task_params, method, hparams,
trial, threads), what is computed.  Its identity (:meth:`RunSpec.identity`, canonical JSON:
sorted keys, no spaces) is hashed with SHA-256; the first 16 hex digits are the ``run_id``
that names its run folder.  The suite that planned a run and the variant label of its cell
(``Cell.tag``) are provenance: they travel with the spec into ``spec.json`` and the record,
and the report reads the label, but they are not part of the identity, so the same
computation planned by two suites is one run.
The torch thread count of a CPU run is part of the identity (``threads``): CPU kernels
reduce in a thread-dependent order, so the same spec at another thread count is another
run.  The suite fixes it (1 thread per run by default, runs in parallel processes), and
no launcher or ``--jobs`` value changes it; ``--threads N`` overrides it and therefore
gives other run ids.  Other execution options (device, determinism) are recorded in the
record instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, compact separators, tuples as lists."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def short_hash(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(sorted((mapping or {}).items())))


#: the keys of a spec dict that are provenance, not identity
PROVENANCE_KEYS = ("suite", "variant", "draw")


@dataclass(frozen=True)
class RunSpec:
    """One run: a method on a task with resolved parameters and a trial (seed index).

    ``suite`` (the suite that planned it) and ``variant`` (the table row's label: the method,
    plus ``[tag]`` when its cell is tagged) are provenance, left out of :attr:`run_id`; so is
    ``draw``, the index of the protocol's hyper-parameter draw (:mod:`benchmark.protocol.draws`)
    whose values ``hparams`` already holds.  ``holdout`` is identity: the method trains on the
    first n - holdout of the n targets, the last ``holdout`` are the ``target-val`` selection
    fold (:mod:`benchmark.protocol.holdout`); 0 (every target trains) is left out of the hash.
    """

    suite: str
    suite_seed: int
    task: str
    task_params: Mapping[str, Any]
    method: str
    hparams: Mapping[str, Any]
    trial: int
    threads: int = 1
    variant: str = ""
    holdout: int = 0
    draw: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_params", _frozen(self.task_params))
        object.__setattr__(self, "hparams", _frozen(self.hparams))
        if isinstance(self.threads, bool) or int(self.threads) != self.threads or self.threads < 1:
            raise ValueError(f"threads must be a positive integer, got {self.threads!r}")
        for name in ("holdout", "draw"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")

    def identity(self) -> dict[str, Any]:
        """What is computed: the canonical dict whose hash is the run id."""
        return {
            "suite_seed": int(self.suite_seed),
            "task": self.task,
            "task_params": dict(self.task_params),
            "method": self.method,
            "hparams": dict(self.hparams),
            "trial": int(self.trial),
            # one thread is the default and is left out; any other count is part of the identity
            **({"threads": int(self.threads)} if self.threads != 1 else {}),
            **({"holdout": int(self.holdout)} if self.holdout else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        """The identity plus the provenance (``suite``, ``variant``, ``draw``): what spec.json and records hold."""
        return {**self.identity(), "suite": self.suite, "variant": self.label_of_variant(), "draw": int(self.draw)}

    def label_of_variant(self) -> str:
        """The table row's label: ``variant`` when the plan set one, else the method name."""
        return self.variant or self.method

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunSpec":
        keys = ("suite_seed", "task", "task_params", "method", "hparams", "trial")
        return cls(suite=str(data.get("suite", "")), **{k: data[k] for k in keys}, threads=int(data.get("threads", 1)),
                   variant=str(data.get("variant", "")), holdout=int(data.get("holdout", 0)),
                   draw=int(data.get("draw", 0)))

    def canonical(self) -> str:
        return canonical_json(self.identity())

    @property
    def run_id(self) -> str:
        return short_hash(self.identity())

    @property
    def n_target(self) -> int:
        return int(self.task_params.get("n_target", -1))

    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.task_params.items() if k != "n_target")
        threads = f" threads={self.threads}" if self.threads != 1 else ""
        protocol = f" draw={self.draw}" if self.draw else ""
        protocol += f" holdout={self.holdout}" if self.holdout else ""
        return (f"{self.task}{'[' + extra + ']' if extra else ''} n={self.n_target} {self.method} "
                f"trial={self.trial}{threads}{protocol}")


@dataclass(frozen=True)
class Cell:
    """A grid block of a suite: one task (with fixed params) x methods x n_target x seeds.

    ``methods=("*",)`` means every registered method that the task supports.
    ``hparams`` maps a method name (or ``"*"`` for every method having the key) to
    overrides.  ``tag`` names the cell's variant: its runs are the table rows
    ``method[tag]`` (provenance, see :class:`RunSpec`); cells of one method with other
    hyper-parameters need distinct tags.  ``draws`` is the protocol's K (DESIGN.md §8): with
    K > 1 every tuned method gets its default run plus K runs (draws 0..K-1 of its search
    space) trained on the n targets less the ``target-val`` holdout; 1 plans the default only.
    """

    task: str
    methods: tuple[str, ...]
    n_targets: tuple[int, ...]
    seeds: tuple[int, ...]
    task_params: Mapping[str, Any] = field(default_factory=dict)
    hparams: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tag: str = ""
    draws: int = 1


@dataclass(frozen=True)
class Suite:
    """A named grid of cells; ``seed`` is the suite seed fed to :func:`derive_seed`,
    ``threads`` the torch thread count of each of its runs (part of every run id).
    ``reads_with``: other suites whose runs this suite's report and reference blocks read beside
    its own (run into the same results folder; their cells must be this suite's, so the rows pair
    by trial): ``recent`` reads quick's rows."""

    name: str
    description: str
    cells: tuple[Cell, ...]
    seed: int = 0
    threads: int = 1
    reads_with: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "threads": self.threads,
            "cells": [
                {
                    "task": c.task,
                    "methods": list(c.methods),
                    "n_targets": list(c.n_targets),
                    "seeds": list(c.seeds),
                    "task_params": dict(c.task_params),
                    "hparams": {k: dict(v) for k, v in c.hparams.items()},
                    "tag": c.tag,
                    **({"draws": c.draws} if c.draws != 1 else {}),
                }
                for c in self.cells
            ],
        }

    def canonical(self) -> str:
        return canonical_json(self.to_dict())
