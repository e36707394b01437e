"""Signal preprocessing shared by the real-data readers: lead order, resampling, length.

Every record leaves the readers as a float32 array ``(12, L)`` in millivolts, leads in
:data:`benchmark.ecg.leads.LEADS_12` order, at :data:`SAMPLE_RATE_HZ` (100 Hz), ``L`` =
``RECORD_SECONDS * 100`` = 1000 samples.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np

from benchmark.ecg.leads import LEADS_12, SAMPLE_RATE_HZ
from benchmark.errors import BenchmarkError

RECORD_SECONDS = 10
RECORD_LENGTH = RECORD_SECONDS * SAMPLE_RATE_HZ


def lead_order(names: Sequence[str], where: object) -> list[int]:
    """Row indices that put a record's leads (any case: 'AVR' or 'aVR') in LEADS_12 order."""
    upper = [str(n).strip().upper() for n in names]
    missing = [lead for lead in LEADS_12 if lead.upper() not in upper]
    if missing or len(upper) != len(LEADS_12):
        raise BenchmarkError(
            f"{where} has the leads {', '.join(map(str, names))}; a 12-lead record with "
            f"{', '.join(LEADS_12)} is expected"
        )
    return [upper.index(lead.upper()) for lead in LEADS_12]


def resample(x: np.ndarray, fs_in: float, fs_out: float = SAMPLE_RATE_HZ) -> np.ndarray:
    """Polyphase resampling along the last axis (``scipy.signal.resample_poly``, which
    applies its own anti-aliasing FIR filter): (C, n) at fs_in -> (C, ceil(n fs_out / fs_in))."""
    if fs_in == fs_out:
        return x
    from scipy.signal import resample_poly

    ratio = Fraction(fs_out).limit_denominator(10_000) / Fraction(fs_in).limit_denominator(10_000)
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)


def fix_length(x: np.ndarray, length: int = RECORD_LENGTH) -> np.ndarray:
    """Keep the first ``length`` samples; a shorter record is zero-padded at the end."""
    n = x.shape[-1]
    if n >= length:
        return x[..., :length]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, length - n)]
    return np.pad(x, pad)


def check_finite(x: np.ndarray, where: object) -> np.ndarray:
    if not np.isfinite(x).all():
        raise BenchmarkError(f"{where} contains NaN or infinite samples; replace the file with an intact copy")
    return x
