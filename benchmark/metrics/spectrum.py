"""Per-lead spectral distance between two sets of multichannel signals.

For records x: (N, C, L) sampled at fs Hz, the mean Welch power spectral density per lead
``P_x[c, f]`` (``scipy.signal.welch``: Hann window, nperseg = min(128, L), 50 % overlap,
constant detrending, one-sided density) is averaged over the N records; the distance of
two sets is the mean over leads and frequency bins of the absolute difference of the
log10 PSDs (a per-bin-averaged L1 distance, in decades):

    D(x, y) = 1/C sum_c 1/F sum_f | log10 P_x[c, f] - log10 P_y[c, f] |,

each PSD floored at :data:`FLOOR` (so that an all-zero lead gives a large finite value,
not infinity).  D = 0 for identical sets.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

#: PSD values below this (signal units^2 / Hz; the ECG tasks are about unit scale) count as this
FLOOR = 1e-12
MAX_NPERSEG = 128


def mean_log_psd(x, fs: float) -> np.ndarray:
    """(C, F) log10 of the Welch PSD per lead, averaged over the records of x: (N, C, L)."""
    a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    if a.ndim != 3 or len(a) < 1:
        raise ValueError(f"psd_distance needs records of shape (N >= 1, leads, length), got {a.shape}")
    _, psd = signal.welch(a, fs=fs, nperseg=min(MAX_NPERSEG, a.shape[-1]), axis=-1)
    return np.log10(np.maximum(psd.mean(0), FLOOR))


def psd_distance(x, y, fs: float) -> float:
    """D(x, y) of the module docstring for x: (N, C, L) and y: (M, C, L) at fs Hz."""
    if tuple(x.shape[1:]) != tuple(y.shape[1:]):
        raise ValueError(f"psd_distance needs the same leads and length, got {tuple(x.shape)} and {tuple(y.shape)}")
    return float(np.abs(mean_log_psd(x, fs) - mean_log_psd(y, fs)).mean())
