"""The declared ICBEB-class -> PTB-XL-statement table (``label_map.csv``) and its rules.

The table is data, not code: one row per ICBEB class in the order of
:data:`benchmark.ecg.classes.ECG_CLASSES`, with the class's numeric code in ICBEB's
``REFERENCE.csv`` (1..9), the PTB-XL SCP statement codes it maps to (space separated) and a
comment explaining the choice.

Rules built on it:

- A PTB-XL record carries class k when any of the class's statements is a key of its
  ``scp_codes`` dictionary, whatever the likelihood (PTB-XL gives form and rhythm
  statements likelihood 0, so a likelihood threshold would drop PVC, PAC, STD_, STE_, AFIB).
- The source keeps only records that carry at least one mapped class.
- Primary class of a multi-label record (``y``): the first class other than NORM in
  ECG_CLASSES order; NORM only when it is the only class.  (ICBEB records use their
  ``First_label`` instead.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from benchmark.ecg.classes import ECG_CLASSES, NUM_ECG_CLASSES
from benchmark.errors import BenchmarkError

LABEL_MAP_PATH = Path(__file__).with_name("label_map.csv")
COLUMNS = ("icbeb_class", "icbeb_code", "ptbxl_statements", "comment")


@dataclass(frozen=True)
class LabelMap:
    """The parsed table.

    Attributes:
        classes: ECG_CLASSES (checked).
        icbeb_codes: ``REFERENCE.csv`` code of each class, e.g. (1, 2, ..., 9).
        statements: the PTB-XL statement codes of each class.
        comments: the table's explanation of each row.
        sha256: SHA-256 of the file, part of the cache's identity.
    """

    classes: tuple[str, ...]
    icbeb_codes: tuple[int, ...]
    statements: tuple[tuple[str, ...], ...]
    comments: tuple[str, ...]
    sha256: str

    def class_of_code(self, code: int) -> int:
        """ICBEB numeric code -> class index; raises KeyError for an unknown code."""
        try:
            return self.icbeb_codes.index(int(code))
        except ValueError:
            raise KeyError(code) from None

    def multi_hot(self, scp_codes: Iterable[str]) -> np.ndarray:
        """PTB-XL statement codes of one record -> (9,) bool, True where a class is carried."""
        present = set(scp_codes)
        return np.array([bool(present.intersection(s)) for s in self.statements], dtype=bool)

    def all_statements(self) -> set[str]:
        return {code for group in self.statements for code in group}

    def check_statements(self, known: set[str], where: Path) -> None:
        """Every mapped statement must exist in PTB-XL's ``scp_statements.csv``."""
        unknown = sorted(self.all_statements() - known)
        if unknown:
            raise BenchmarkError(
                f"{where} does not list the statement(s) {', '.join(unknown)} that {LABEL_MAP_PATH.name} maps to; "
                "is it PTB-XL's scp_statements.csv (first column = statement code)?"
            )


def primary_class(multi_hot: np.ndarray) -> np.ndarray:
    """(N, 9) bool -> (N,) int64: the first non-NORM class present, else NORM (index 0).

    Rows without any class get -1 (they are filtered out before this is used).
    """
    multi_hot = np.asarray(multi_hot, dtype=bool)
    abnormal = multi_hot[:, 1:]
    first_abnormal = np.argmax(abnormal, axis=1) + 1
    out = np.where(abnormal.any(axis=1), first_abnormal, np.where(multi_hot[:, 0], 0, -1))
    return out.astype(np.int64)


def load_label_map(path: Path = LABEL_MAP_PATH) -> LabelMap:
    """Read and validate the table (columns, class order, codes 1..9, non-empty statements)."""
    import pandas as pd

    path = Path(path)
    try:
        raw = path.read_bytes()
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"cannot read the label map {path}: {exc}") from exc
    if tuple(frame.columns) != COLUMNS:
        raise BenchmarkError(f"{path} must have the columns {', '.join(COLUMNS)}; it has {', '.join(frame.columns)}")
    classes = tuple(frame["icbeb_class"].str.strip())
    if classes != ECG_CLASSES:
        raise BenchmarkError(f"{path} must list the classes {', '.join(ECG_CLASSES)} in this order; "
                             f"it lists {', '.join(classes)}")
    try:
        codes = tuple(int(c) for c in frame["icbeb_code"])
    except ValueError as exc:
        raise BenchmarkError(f"{path}: icbeb_code must be integers ({exc})") from exc
    if len(set(codes)) != NUM_ECG_CLASSES:
        raise BenchmarkError(f"{path}: icbeb_code values must be distinct, got {codes}")
    statements = tuple(tuple(s.split()) for s in frame["ptbxl_statements"])
    empty = [c for c, s in zip(classes, statements) if not s]
    if empty:
        raise BenchmarkError(f"{path}: class {empty[0]} maps to no PTB-XL statement; give at least one code")
    return LabelMap(classes, codes, statements, tuple(frame["comment"]), hashlib.sha256(raw).hexdigest())
