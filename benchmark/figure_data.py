"""What figures need from a task, written when a run is executed, so that a figure is a
function of the records (never of a task rebuilt by today's code).

For each (source pool, target subset, test fold) the runner writes one content-addressed
file ``<results>/artifacts/figure-data/<key>.npz`` (the key hashes the data keys and the test
fold's fingerprint, so the ten methods of a cell share one file) and names it in the record
(``record["figure_data"] = {"key": ..., "sha256": ...}``).  It holds:

- vector tasks: ``scatter_lims`` (2,), square axis limits covering 99.8 % of the held-out
  target points; ``target_points`` (<= SCATTER_POINTS, d), the n target training points;
  on 2-D closed-form tasks also ``target_density`` (G, G), the exact target density q on
  the G x G grid ``linspace(*scatter_lims, G)`` (x varying along columns);
- signal tasks (ECG): ``heldout_records`` (<= HELDOUT_RECORDS, leads, length), real held-out
  target records.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from benchmark.api import TaskData
from benchmark.spec import short_hash
from benchmark.store import save_npz, sha256_file

FOLDER = "figure-data"
SCATTER_POINTS = 500  # points a 2-D panel draws: the first 500 of a run (samples are i.i.d.)
CONTOUR_GRID = 160
HELDOUT_RECORDS = 300  # ecg-leads draws the first; ecg-embedding fits its PCA on up to 300


def scatter_limits(reference: Optional[np.ndarray], fallback: np.ndarray, pad: float = 0.25) -> tuple[float, float]:
    """Square limits covering 99.8 % of the reference points (or the fallback), padded by 25 %."""
    pts = reference if reference is not None and len(reference) else fallback
    lo, hi = np.quantile(pts, [0.001, 0.999])
    span = hi - lo
    return float(lo - pad * span), float(hi + pad * span)


def grid_axes(lims: tuple[float, float], size: int = CONTOUR_GRID) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y): (size, size) grids over lims^2, x along columns."""
    lin = np.linspace(lims[0], lims[1], size)
    return np.meshgrid(lin, lin, indexing="xy")


def density_on_grid(log_prob: Any, lims: tuple[float, float], size: int = CONTOUR_GRID) -> np.ndarray:
    """exp(log_prob) of a closed-form density ``log_prob(x: (B, 2) float64)`` on :func:`grid_axes`."""
    gx, gy = grid_axes(lims, size)
    pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1)).double()
    with torch.no_grad():
        return log_prob(pts).exp().numpy().reshape(size, size)


def _fingerprint(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def figure_key(data: TaskData) -> str:
    return short_hash({"source": data.source_key, "target": data.target_key, "test": _fingerprint(data.test_x),
                       "format": 1})


def figure_arrays(data: TaskData) -> dict[str, np.ndarray]:
    """The arrays of the module docstring for ``data``."""
    if data.kind != "vector":
        return {"heldout_records": data.test_x[:HELDOUT_RECORDS].numpy()}
    test = data.test_x.numpy()
    lims = scatter_limits(test, test)
    out = {"scatter_lims": np.asarray(lims), "target_points": data.target_x[:SCATTER_POINTS].numpy()}
    if data.sample_shape == (2,) and data.closed_form is not None:
        out["target_density"] = density_on_grid(data.closed_form.target.log_prob, lims).astype(np.float32)
    return out


def write_figure_data(artifacts: Path, data: TaskData) -> dict[str, str]:
    """Write (once) the figure data of ``data`` under ``artifacts``; returns the record's entry."""
    key = figure_key(data)
    path = Path(artifacts) / FOLDER / f"{key}.npz"
    if path.is_file():
        return {"key": key, "sha256": sha256_file(path)}
    path.parent.mkdir(parents=True, exist_ok=True)
    return {"key": key, "sha256": save_npz(path, figure_arrays(data))}


def read_figure_data(artifacts: Path, entry: Any) -> Optional[dict[str, np.ndarray]]:
    """The arrays a record's ``figure_data`` entry names, or None (absent, damaged, or not the
    file the record names)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or not entry["key"].isalnum():
        return None
    path = Path(artifacts) / FOLDER / f"{entry['key']}.npz"
    try:
        if sha256_file(path) != entry.get("sha256"):
            return None
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:  # noqa: BLE001 (missing, truncated, not a zip: a figure never fails on one file)
        return None
