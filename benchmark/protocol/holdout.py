"""The ``target-val`` holdout: how many of the n targets a tuned run leaves out of training.

Under the protocol (DESIGN.md §8) a tuned method's K draws are trained on the first n - h
of its n target samples; the last h are the selection fold of the ``target-val`` rule, which
only the selection criteria read (:mod:`benchmark.protocol.criteria`), never the method:

    h(n) = max(HOLDOUT_MIN, round(HOLDOUT_FRACTION * n)),   n - h >= HOLDOUT_MIN

(n = 10 -> 2, n = 100 -> 20, n = 1000 -> 200).  For the nested target subsets of
:class:`benchmark.design.Design` the n - h training targets are exactly the (n - h)-subset.
"""

from __future__ import annotations

from benchmark.errors import BenchmarkError

HOLDOUT_FRACTION = 0.2
HOLDOUT_MIN = 2


def holdout_size(n_target: int) -> int:
    """h(n) of the module docstring; a one-line error where n is too small to hold any out."""
    h = max(HOLDOUT_MIN, int(round(HOLDOUT_FRACTION * int(n_target))))
    if int(n_target) - h < HOLDOUT_MIN:
        raise BenchmarkError(f"n_target={n_target} is too small for target-val selection (it holds out {h} and "
                             f"trains on the rest, which needs n_target >= {h + HOLDOUT_MIN}); plan such a cell "
                             "with draws=1 or a larger n_target")
    return h
