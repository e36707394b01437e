"""Named random streams derived from the run's axes.

``derive_seed(suite_seed, purpose, *axes)`` is the first 8 bytes of
SHA-256(canonical JSON of [suite_seed, purpose, *axes]) read as an unsigned integer and
reduced below 2**63, so every (purpose, axes) pair gets an independent stream and
changing one axis never shifts another's.  The purposes used by the suite are
``data`` (source/target pools), ``subset`` (the target subset; axes: task, n_target,
trial only, so all methods see identical data), ``init``, ``train``, ``sample``,
``eval`` and ``draw`` (a method's hyper-parameter draws; axes: task, method, draw index only,
so every trial and n_target sees the same K configurations).
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import numpy as np
import torch

PURPOSES = ("data", "subset", "init", "train", "sample", "eval", "draw")


def derive_seed(suite_seed: int, purpose: str, *axes: Any) -> int:
    """Seed in [0, 2**63) from the suite seed, a purpose name and the run's axes."""
    payload = json.dumps([int(suite_seed), str(purpose), *axes], sort_keys=True, separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(payload.encode()).digest()[:8], "big") % (2**63)


def torch_generator(seed: int) -> torch.Generator:
    """A CPU generator (so CPU and GPU runs draw the same noise)."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    return gen


def numpy_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(int(seed))


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random before any module is built (init stream)."""
    torch.manual_seed(int(seed) % (2**63))
    np.random.seed(int(seed) % (2**32))
    random.seed(int(seed))
