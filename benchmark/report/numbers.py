"""How the tables round numbers: significant digits and the power of ten they show."""

from __future__ import annotations

import math


def _layout(x: float, sig: int) -> tuple[int, int]:
    """(power of ten, decimals) that show ``x`` with ``sig`` significant digits: fixed
    notation (power 0) for 1e-3 <= |x| < 1e4, else a mantissa in [1, 10)."""
    if not math.isfinite(x) or x == 0:
        return 0, sig - 1
    e = math.floor(math.log10(abs(x)))
    if -3 <= e < 4:
        return 0, max(0, sig - 1 - e)
    if abs(round(x / 10.0 ** e, sig - 1)) >= 10:
        e += 1
    return e, sig - 1


def displayed(x: float, sig: int = 3) -> float:
    """``x`` rounded as the tables show it (ranks compare these, so equal-looking cells tie)."""
    e, d = _layout(x, sig)
    return round(x / 10.0 ** e, d) * 10.0 ** e if math.isfinite(x) else x
