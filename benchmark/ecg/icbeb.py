"""ICBEB 2018 (CPSC 2018) reader (the target domain).

Layout read::

    icbeb2018/
      REFERENCE.csv        Recording,First_label,Second_label,Third_label
                           (A0001,5,,) with codes 1..9 = Normal, AF, I-AVB, LBBB, RBBB,
                           PAC, PVC, STD, STE (the label map's ``icbeb_code`` column)
      A0001.mat, A0001.hea ...  anywhere below the folder (flat, as in PhysioNet's copy, or
                           in TrainingSet1/ TrainingSet2/ TrainingSet3/)

Record formats:

- PhysioNet/CinC 2020 copy (what the issue names): ``.mat`` with key ``val``, an integer
  array (12, n) in ADC units at 500 Hz, and a WFDB ``.hea`` giving each lead's name, gain
  and baseline: mV = (val - baseline) / gain (a gain of 0 means WFDB's default 200/mV).
- The original CPSC 2018 release (no ``.hea``): ``.mat`` with the struct ``ECG`` whose
  field ``data`` is (12, n) in mV at 500 Hz, leads in LEADS_12 order.

Every record is resampled to 100 Hz with ``scipy.signal.resample_poly`` (polyphase, with
its anti-aliasing filter) and cut to its first 10 s or zero-padded at the end to 10 s.

Folds: ICBEB has no official split.  :func:`assign_folds` makes a deterministic
stratified 10-fold assignment: within each First_label class, records are sorted by the
SHA-256 of their name and dealt to folds round-robin, starting at fold (class index mod
10) + 1 so that small classes do not all start in fold 1.  Folds 1-8 are the target
training pool, fold 9 the validation fold and fold 10 the test fold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.ecg.label_map import LabelMap
from benchmark.ecg.leads import LEADS_12
from benchmark.ecg.signals import RECORD_LENGTH, check_finite, fix_length, lead_order, resample
from benchmark.errors import BenchmarkError

REFERENCE = "REFERENCE.csv"
COLUMNS = ("Recording", "First_label", "Second_label", "Third_label")
N_FOLDS = 10
TRAIN_FOLDS = (1, 2, 3, 4, 5, 6, 7, 8)
VALIDATION_FOLD = 9
TEST_FOLD = 10
ORIGINAL_FS = 500
LAYOUT = (f"the ICBEB2018 folder must contain {REFERENCE} (columns {', '.join(COLUMNS)}) and the records "
          "A0001.mat + A0001.hea ... (the CPSC 2018 training set) anywhere below it")


@dataclass(frozen=True)
class IcbebIndex:
    """The records of REFERENCE.csv with their labels and folds.

    Attributes:
        names: N record names ("A0001" ...), in REFERENCE.csv order.
        paths: N ``.mat`` paths.
        first: (N,) int64 class index of First_label (the primary class ``y``).
        multi_hot: (N, 9) bool over the three labels.
        fold: (N,) int64 in 1..10 from :func:`assign_folds`.
    """

    names: tuple[str, ...]
    paths: tuple[Path, ...]
    first: np.ndarray
    multi_hot: np.ndarray
    fold: np.ndarray


def assign_folds(names: tuple[str, ...] | list[str], first: np.ndarray, n_folds: int = N_FOLDS) -> np.ndarray:
    """Deterministic stratified folds 1..n_folds (see the module docstring)."""
    first = np.asarray(first)
    folds = np.zeros(len(names), dtype=np.int64)
    for c in np.unique(first):
        members = np.flatnonzero(first == c)
        order = sorted(members, key=lambda i: hashlib.sha256(names[i].encode()).hexdigest())
        for rank, i in enumerate(order):
            folds[i] = (rank + int(c)) % n_folds + 1
    return folds


def _label_rows(path: Path, frame, label_map: LabelMap) -> tuple[np.ndarray, np.ndarray]:
    first = np.zeros(len(frame), dtype=np.int64)
    hot = np.zeros((len(frame), len(label_map.classes)), dtype=bool)
    for row, (name, *labels) in enumerate(frame[list(COLUMNS)].itertuples(index=False)):
        codes = [v for v in labels if v == v and str(v).strip() != ""]  # drop NaN / blank
        try:
            classes = [label_map.class_of_code(int(float(v))) for v in codes]
        except (KeyError, ValueError):
            raise BenchmarkError(f"{path}: record {name} has the label(s) {codes}; codes must be 1..9 "
                                 f"({', '.join(label_map.classes)})") from None
        if not classes or labels[0] != labels[0]:
            raise BenchmarkError(f"{path}: record {name} has no First_label; every row needs one code 1..9")
        first[row] = classes[0]
        hot[row, classes] = True
    return first, hot


def find_records(folder: Path, names: tuple[str, ...]) -> tuple[Path, ...]:
    """The ``.mat`` file of every name (searched below ``folder``); names the first missing one."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.mat")):
        if path.stem in found:
            raise BenchmarkError(f"{path} and {found[path.stem]} have the same record name; keep one of them")
        found[path.stem] = path
    absent = [n for n in names if n not in found]
    if absent:
        raise BenchmarkError(f"{folder / (absent[0] + '.mat')} is missing ({len(absent)} record(s) listed in "
                             f"{REFERENCE} were not found below {folder}); {LAYOUT}")
    return tuple(found[n] for n in names)


def read_index(folder: Path, label_map: LabelMap) -> IcbebIndex:
    """Read REFERENCE.csv, find the records and assign the folds."""
    import pandas as pd

    folder = Path(folder)
    path = folder / REFERENCE
    if not path.exists():
        raise BenchmarkError(f"{path} is missing; {LAYOUT}")
    try:
        frame = pd.read_csv(path, dtype={"Recording": str})
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"{path} is not a readable CSV file ({type(exc).__name__}); {LAYOUT}") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise BenchmarkError(f"{path} lacks the column(s) {', '.join(missing)}; it must have {', '.join(COLUMNS)}")
    if frame["Recording"].duplicated().any():
        dup = frame["Recording"][frame["Recording"].duplicated()].iloc[0]
        raise BenchmarkError(f"{path} lists the record {dup} twice; keep one row per record")
    names = tuple(str(n).strip() for n in frame["Recording"])
    first, hot = _label_rows(path, frame, label_map)
    return IcbebIndex(names, find_records(folder, names), first, hot, assign_folds(names, first))


def _read_val(path: Path, val: np.ndarray) -> tuple[np.ndarray, float, list[str]]:
    import wfdb

    hea = path.with_suffix(".hea")
    if not hea.exists():
        raise BenchmarkError(f"{hea} is missing: a .mat file with the key 'val' needs its WFDB header (gains, leads)")
    try:
        header = wfdb.rdheader(str(path.with_suffix("")))
    except Exception as exc:  # wfdb raises many types for a malformed header
        raise BenchmarkError(f"cannot parse {hea} as a WFDB header ({type(exc).__name__}: {exc})") from exc
    if val.ndim != 2 or val.shape[0] != header.n_sig:
        raise BenchmarkError(f"{path}: 'val' has shape {val.shape}, but {hea.name} describes {header.n_sig} leads")
    gain = np.asarray(header.adc_gain, dtype=np.float64)
    gain = np.where(gain == 0, 200.0, gain)
    baseline = np.asarray(header.baseline, dtype=np.float64)
    return (val.astype(np.float64) - baseline[:, None]) / gain[:, None], float(header.fs), list(header.sig_name)


def read_raw(path: Path) -> tuple[np.ndarray, float]:
    """One ``.mat`` record -> ((12, n) float64 mV in LEADS_12 order, sampling rate)."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a damaged file
        raise BenchmarkError(f"cannot read {path} as a MATLAB file ({type(exc).__name__}: {exc})") from exc
    if "val" in mat:
        x, fs, names = _read_val(path, np.asarray(mat["val"]))
    elif "ECG" in mat:
        try:
            x = np.asarray(mat["ECG"]["data"][0, 0], dtype=np.float64)
        except (ValueError, IndexError, KeyError) as exc:
            raise BenchmarkError(f"{path}: the struct 'ECG' has no field 'data' (12 x n, mV)") from exc
        fs, names = float(ORIGINAL_FS), list(LEADS_12)
        if x.ndim != 2 or x.shape[0] != len(LEADS_12):
            raise BenchmarkError(f"{path}: ECG.data has shape {x.shape}; 12 x n is expected")
    else:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise BenchmarkError(f"{path} has the keys {keys}; an ICBEB record holds 'val' (with a .hea) or 'ECG'")
    return check_finite(x[lead_order(names, path)], path), fs


def read_record(path: Path, length: int = RECORD_LENGTH) -> tuple[np.ndarray, float]:
    """One record -> ((12, length) float32 mV at 100 Hz, its original duration in seconds)."""
    x, fs = read_raw(path)
    return fix_length(resample(x, fs), length).astype(np.float32), x.shape[-1] / fs
