"""The experiment design every task shares: data streams, nested target subsets, cache keys.

A task builds its data from one :class:`Design` (its registered name, the suite seed, the
trial), so the rules below are written once, here, and a task file only says *what* its
splits are:

- **Data streams.** ``design.generator(*axes)`` is the ``data`` stream of
  (suite seed, task, *axes); a task passes the data parameters and the split's name as
  axes (and the trial, if its pools vary by trial).
- **Nested target subsets.** The n_target training samples are the first n_target entries
  of *one* permutation of the target pool, drawn from the ``subset`` stream of
  (suite seed, task, trial):

      subset(n) = perm[:n],  perm = randperm(n_pool; seed = derive_seed(s, "subset", task, trial))

  so the subset depends only on (task, n_target, trial) (for a given pool) and
  subset(10) ⊂ subset(100) ⊂ subset(1000): a learning curve over n_target adds samples,
  it never swaps them (the usual design for learning curves).
- **Keys.** ``source_key`` names the source pool (task, suite seed and everything the
  source data depend on); ``target_key`` = hash(source_key, n_target, trial, subset rule)
  names the target subset.  Cached stages (source models, classifiers ...) are keyed by them, so a
  change of the data changes the keys.

``tests/test_task_contract.py`` checks every registered task (and a plugin task) against
these rules; the ``build()`` of a task must be deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from benchmark.seeding import derive_seed, torch_generator
from benchmark.spec import short_hash

#: Names the subset rule inside every target key, so a change of the rule changes the keys.
SUBSET_RULE = "nested-v1"


@dataclass(frozen=True)
class Design:
    """The design of one (task, suite seed, trial); see the module docstring.

    Attributes:
        task: the task's registered name.
        suite_seed: the suite's seed.
        trial: the trial (seed index) of the run.
    """

    task: str
    suite_seed: int
    trial: int

    def data_seed(self, *axes: Any) -> int:
        """Seed of the ``data`` stream of (suite seed, task, *axes)."""
        return derive_seed(self.suite_seed, "data", self.task, *axes)

    def generator(self, *axes: Any) -> torch.Generator:
        """A CPU generator on the ``data`` stream of (suite seed, task, *axes)."""
        return torch_generator(self.data_seed(*axes))

    def permutation(self, n_pool: int) -> torch.Tensor:
        """The trial's permutation of a pool of ``n_pool`` samples: (n_pool,) int64."""
        if n_pool < 1:
            raise ValueError(f"the target pool of task {self.task!r} is empty")
        seed = derive_seed(self.suite_seed, "subset", self.task, self.trial)
        return torch.randperm(int(n_pool), generator=torch_generator(seed))

    def subset(self, n_pool: int, n_target: int) -> torch.Tensor:
        """Indices (n_target,) int64 into the target pool: the first n_target of :meth:`permutation`
        (nested over n_target)."""
        if not 1 <= n_target <= n_pool:
            raise ValueError(f"task {self.task!r}: n_target={n_target} must be between 1 and the pool size {n_pool}")
        return self.permutation(n_pool)[:n_target]

    def source_key(self, **data: Any) -> str:
        """Hash naming the source data: the task, the suite seed and ``data`` (everything the
        pools depend on: data parameters, a data set's hash, the trial if pools vary by trial)."""
        return short_hash({"task": self.task, "suite_seed": self.suite_seed, **data})

    def target_key(self, source_key: str, n_target: int) -> str:
        """Hash naming the target subset: (source key, n_target, trial, :data:`SUBSET_RULE`)."""
        return short_hash({"source": source_key, "n_target": int(n_target), "trial": self.trial,
                           "subset": SUBSET_RULE})
