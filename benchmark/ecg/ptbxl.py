"""PTB-XL reader (the source domain), from the folder of PhysioNet's PTB-XL 1.0.x release.

Layout read (nothing else is needed)::

    ptbxl/
      ptbxl_database.csv   one row per record: ecg_id, scp_codes (a dict string such as
                           "{'NORM': 100.0, 'SR': 0.0}"), strat_fold (1..10),
                           filename_lr ("records100/00000/00001_lr"), ...
      scp_statements.csv   one row per SCP statement, first column = the statement code
      records100/          WFDB records (.hea + .dat) at 100 Hz, 10 s, 12 leads, in mV

Records are filtered to those that carry a class of the label map (see
:mod:`benchmark.ecg.label_map`).  ``strat_fold`` is PTB-XL's official stratified split:
folds 1-8 are the source pool, folds 9 and 10 the held-out source test set.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from benchmark.ecg.label_map import LabelMap, primary_class
from benchmark.ecg.leads import SAMPLE_RATE_HZ
from benchmark.ecg.signals import RECORD_LENGTH, check_finite, fix_length, lead_order
from benchmark.errors import BenchmarkError

DATABASE = "ptbxl_database.csv"
STATEMENTS = "scp_statements.csv"
RECORDS_DIR = "records100"
REQUIRED_COLUMNS = ("ecg_id", "scp_codes", "strat_fold", "filename_lr")
SOURCE_FOLDS = (1, 2, 3, 4, 5, 6, 7, 8)
HELD_OUT_FOLDS = (9, 10)
LAYOUT = (f"the PTB-XL folder must contain {DATABASE}, {STATEMENTS} and {RECORDS_DIR}/ "
          "(the PTB-XL 1.0.x release from PhysioNet, unpacked)")


@dataclass(frozen=True)
class PtbxlIndex:
    """The kept records (those with a mapped class), from the metadata alone.

    Attributes:
        ecg_id: (N,) int64.
        filename: N record paths relative to the folder, without extension.
        strat_fold: (N,) int64 in 1..10.
        multi_hot: (N, 9) bool, classes in ECG_CLASSES order.
        primary: (N,) int64, :func:`benchmark.ecg.label_map.primary_class`.
        n_rows: rows of ptbxl_database.csv (before filtering).
        n_statements: rows of scp_statements.csv.
    """

    ecg_id: np.ndarray
    filename: tuple[str, ...]
    strat_fold: np.ndarray
    multi_hot: np.ndarray
    primary: np.ndarray
    n_rows: int
    n_statements: int


def _need(path: Path, what: str = "file") -> Path:
    if not path.exists():
        raise BenchmarkError(f"{path} is missing ({what}); {LAYOUT}")
    return path


def _read_csv(path: Path, **kwargs):
    import pandas as pd

    try:
        return pd.read_csv(path, **kwargs)
    except (OSError, ValueError) as exc:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise BenchmarkError(f"{path} is not a readable CSV file ({type(exc).__name__}); {LAYOUT}") from exc


def read_statements(folder: Path) -> set[str]:
    """The statement codes of ``scp_statements.csv`` (its first, unnamed column)."""
    path = _need(folder / STATEMENTS)
    frame = _read_csv(path, index_col=0)
    if "description" not in frame.columns or frame.index.empty:
        raise BenchmarkError(f"{path} is malformed: expected PTB-XL's statement table (first column = code, "
                             f"then description, diagnostic, form, rhythm, diagnostic_class ...)")
    return {str(code) for code in frame.index}


def _parse_codes(text: object, ecg_id: object, path: Path) -> dict:
    try:
        codes = ast.literal_eval(str(text))
    except (ValueError, SyntaxError):
        codes = None
    if not isinstance(codes, dict):
        raise BenchmarkError(f"{path}: scp_codes of ecg_id {ecg_id} is {text!r}, "
                             "not a dict such as \"{'NORM': 100.0}\"")
    return codes


def read_index(folder: Path, label_map: LabelMap) -> PtbxlIndex:
    """Read and check the metadata; keep the records that carry a mapped class."""
    folder = Path(folder)
    statements = read_statements(folder)
    label_map.check_statements(statements, folder / STATEMENTS)
    path = _need(folder / DATABASE)
    frame = _read_csv(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise BenchmarkError(f"{path} lacks the column(s) {', '.join(missing)}; PTB-XL's table has "
                             f"{', '.join(REQUIRED_COLUMNS)} among others")
    import pandas as pd

    folds = pd.to_numeric(frame["strat_fold"], errors="coerce")
    if folds.isna().any() or not folds.isin(range(1, 11)).all():
        raise BenchmarkError(f"{path}: strat_fold must be an integer 1..10 in every row")
    frame["strat_fold"] = folds.astype(np.int64)
    rows = [label_map.multi_hot(_parse_codes(t, i, path)) for t, i in zip(frame["scp_codes"], frame["ecg_id"])]
    hot = np.array(rows, dtype=bool).reshape(len(frame), len(label_map.classes))
    keep = hot.any(axis=1)
    kept = frame[keep]
    return PtbxlIndex(
        ecg_id=kept["ecg_id"].to_numpy(np.int64),
        filename=tuple(str(f) for f in kept["filename_lr"]),
        strat_fold=kept["strat_fold"].to_numpy(np.int64),
        multi_hot=hot[keep],
        primary=primary_class(hot[keep]),
        n_rows=len(frame),
        n_statements=len(statements),
    )


def check_records(folder: Path, index: PtbxlIndex) -> None:
    """Every kept record needs its ``.hea`` and ``.dat``; names the first missing file."""
    _need(folder / RECORDS_DIR, "folder")
    absent = [folder / (f + ext) for f in index.filename for ext in (".hea", ".dat")
              if not (folder / (f + ext)).exists()]
    if absent:
        raise BenchmarkError(f"{absent[0]} is missing ({len(absent)} record file(s) listed in {DATABASE} are absent); "
                             f"{LAYOUT}")


def read_record(folder: Path, filename: str, length: int = RECORD_LENGTH) -> np.ndarray:
    """One record -> (12, length) float32 in mV, LEADS_12 order, 100 Hz."""
    import wfdb

    base = Path(folder) / filename
    try:
        signal, fields = wfdb.rdsamp(str(base))
    except Exception as exc:  # wfdb raises many types for a damaged header or signal file
        raise BenchmarkError(f"cannot read the WFDB record {base}.hea/.dat ({type(exc).__name__}: {exc}); "
                             "replace it with an intact copy") from exc
    if int(round(fields["fs"])) != SAMPLE_RATE_HZ:
        raise BenchmarkError(f"{base}.hea says {fields['fs']} Hz; {RECORDS_DIR}/ must hold the 100 Hz records")
    x = signal.T[lead_order(fields["sig_name"], f"{base}.hea")]
    return check_finite(fix_length(x, length), f"{base}.dat").astype(np.float32)


def iter_records(folder: Path, index: PtbxlIndex, length: int = RECORD_LENGTH) -> Iterator[np.ndarray]:
    for filename in index.filename:
        yield read_record(folder, filename, length)
