"""K hyper-parameter configurations per method: draw 0 is its default, draws 1..K-1 come from
its declared search space (:func:`benchmark.stage_configs.search_space`).

Draw k of a method on a task is a pure function of (suite seed, task, method, k): a NumPy
generator seeded with ``derive_seed(suite_seed, "draw", task, method, k)`` samples every
tunable field in field order, so the same configurations serve every trial and every n_target
(a method's K draws are compared on shared data), and adding a draw never changes the others.

    log-uniform [a, b]:      exp(U(log a, log b))
    int-log-uniform [a, b]:  round(exp(U(log a, log b)))   (an integer in [a, b])
    uniform [a, b]:          U(a, b)
    choice (c_1..c_m):       c_J, J ~ U{1..m}

Oracle and reference rows (``Method.tuned = False``) and methods without a search space get
draw 0 only: the shared source model is a given pretrained model, never tuned.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from benchmark.seeding import derive_seed
from benchmark.stage_configs import Space, search_space


def sample_value(space: Space, rng: np.random.Generator) -> Any:
    """One value of ``space`` (see the module docstring)."""
    if space.kind == "choice":
        return space.choices[int(rng.integers(len(space.choices)))]
    if space.kind == "uniform":
        return float(rng.uniform(space.low, space.high))
    value = math.exp(rng.uniform(math.log(space.low), math.log(space.high)))
    if space.kind == "int-log-uniform":
        return int(min(max(round(value), space.low), space.high))
    return float(value)


def draw_hparams(params_cls: type, draw: int, suite_seed: int, task: str, method: str,
                 tuned: bool = True) -> dict[str, Any]:
    """The overrides of draw ``draw`` (empty for draw 0, an untuned method or an empty space)."""
    if draw < 0:
        raise ValueError(f"draw {draw} must be >= 0")
    space = search_space(params_cls)
    if draw == 0 or not tuned or not space:
        return {}
    rng = np.random.default_rng(derive_seed(suite_seed, "draw", task, method, int(draw)))
    return {name: sample_value(s, rng) for name, s in space.items()}


def draws(params_cls: type, k: int, suite_seed: int, task: str, method: str, tuned: bool = True,
          base: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The K configurations (``base`` overrides, e.g. the suite's budget, then each draw's values);
    a method with nothing to tune gets one."""
    n = k if (tuned and search_space(params_cls)) else 1
    return [{**dict(base or {}), **draw_hparams(params_cls, d, suite_seed, task, method, tuned)} for d in range(n)]
