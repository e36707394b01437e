"""Check the user's ECG data folder, preprocess it once and cache the arrays.

``python -m benchmark prepare ecg --data-dir DIR [--cache DIR] [--rebuild] [--jobs N]``
calls :func:`prepare`; the ``ptbxl-icbeb`` task calls :func:`load_prepared`, which builds
the cache the same way (one reader process) when it is missing or stale.  Nothing is ever
downloaded.

Data folder (``--data-dir`` or the environment variable ``TLDM_ECG_DIR``)::

    DIR/ptbxl/       ptbxl_database.csv, scp_statements.csv, records100/  (PTB-XL 1.0.x)
    DIR/icbeb2018/   REFERENCE.csv and the A*.mat + A*.hea records        (CPSC 2018)

Cache (``--cache`` or ``TLDM_ECG_CACHE``; default ``DIR/.tldm-cache``), folder
``ptbxl-icbeb/``:

    ptbxl.npz      x (N, 12, 1000) float32 mV, y (N,) primary class, multi_hot (N, 9),
                   fold (N,) = strat_fold, ids (N,) = ecg_id     (records with a mapped class)
    icbeb.npz      the same for every ICBEB record; y = First_label, fold = 1..10
    manifest.json  the inputs (SHA-256 of the three metadata files and of label_map.csv,
                   format version, length, rate), counts and the arrays' SHA-256

The manifest is written last, atomically, so it exists only beside complete arrays.  The
cache is reused when the inputs are unchanged (``prepare`` says so and re-verifies the
arrays' checksums); a changed metadata file or label map makes it stale and it is rebuilt.
Record files are assumed immutable: after replacing records, use ``--rebuild``.  Builds
hold a file lock, so concurrent runs build once.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from benchmark.ecg import icbeb, ptbxl
from benchmark.ecg.classes import ECG_CLASSES
from benchmark.ecg.label_map import LABEL_MAP_PATH, LabelMap, load_label_map
from benchmark.ecg.leads import SAMPLE_RATE_HZ
from benchmark.ecg.signals import RECORD_LENGTH, RECORD_SECONDS
from benchmark.errors import BenchmarkError
from benchmark.spec import short_hash
from benchmark.store import atomic_write_text, atomic_write_with, sha256_file

log = logging.getLogger("benchmark.ecg")

ENV_DIR = "TLDM_ECG_DIR"
ENV_CACHE = "TLDM_ECG_CACHE"
PTBXL_DIR = "ptbxl"
ICBEB_DIR = "icbeb2018"
CACHE_DIR = ".tldm-cache"
CACHE_NAME = "ptbxl-icbeb"
FORMAT_VERSION = 1
EXPECTED = (f"DIR/{PTBXL_DIR}/ (ptbxl_database.csv, scp_statements.csv, records100/) and "
            f"DIR/{ICBEB_DIR}/ (REFERENCE.csv and the A*.mat + A*.hea records)")
METADATA = (f"{PTBXL_DIR}/{ptbxl.DATABASE}", f"{PTBXL_DIR}/{ptbxl.STATEMENTS}", f"{ICBEB_DIR}/{icbeb.REFERENCE}")


@dataclass(frozen=True)
class EcgArrays:
    """One dataset's cached arrays: x (N, 12, L) float32 mV, y (N,) int64, multi_hot (N, 9)
    bool, fold (N,) int64, ids (N,) record identifiers (as strings)."""

    x: np.ndarray
    y: np.ndarray
    multi_hot: np.ndarray
    fold: np.ndarray
    ids: np.ndarray


@dataclass(frozen=True)
class PreparedEcg:
    """Both datasets and the manifest; ``data_hash`` names this exact preprocessed data."""

    ptbxl: EcgArrays
    icbeb: EcgArrays
    manifest: dict[str, Any]
    folder: Path

    @property
    def data_hash(self) -> str:
        return short_hash({"inputs": self.manifest["inputs"], "arrays": self.manifest["arrays"]})


def resolve_data_dir(data_dir: Optional[str | Path] = None) -> Path:
    """``--data-dir`` or ``$TLDM_ECG_DIR``, checked to hold ptbxl/ and icbeb2018/."""
    value = data_dir if data_dir else os.environ.get(ENV_DIR)
    if not value:
        raise BenchmarkError(f"the ECG data folder is not set: pass --data-dir DIR or set {ENV_DIR}=DIR, "
                             f"where DIR holds {EXPECTED}")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise BenchmarkError(f"the ECG data folder {path} (from --data-dir or {ENV_DIR}) does not exist; "
                             f"it must hold {EXPECTED}")
    for sub in (PTBXL_DIR, ICBEB_DIR):
        if not (path / sub).is_dir():
            raise BenchmarkError(f"{path / sub} is missing; the ECG data folder must hold {EXPECTED}")
    return path.resolve()


def resolve_cache_dir(data_dir: Path, cache: Optional[str | Path] = None) -> Path:
    """``--cache`` or ``$TLDM_ECG_CACHE``, else ``data_dir/.tldm-cache``; plus ``/ptbxl-icbeb``."""
    value = cache if cache else os.environ.get(ENV_CACHE)
    root = Path(value).expanduser() if value else data_dir / CACHE_DIR
    return root.resolve() / CACHE_NAME


def input_fingerprint(data_dir: Path, label_map: LabelMap) -> dict[str, Any]:
    """What the cache depends on; a missing metadata file ends here, named."""
    files = {}
    for rel in METADATA:
        path = data_dir / rel
        if not path.is_file():
            layout = ptbxl.LAYOUT if rel.startswith(PTBXL_DIR) else icbeb.LAYOUT
            raise BenchmarkError(f"{path} is missing; {layout}")
        files[rel] = sha256_file(path)
    return {"format_version": FORMAT_VERSION, "length": RECORD_LENGTH, "sample_rate_hz": SAMPLE_RATE_HZ,
            "files": files, LABEL_MAP_PATH.name: label_map.sha256}


def check_complete_csv(path: Path) -> None:
    """Refuse a CSV table cut by an interrupted download or copy: its last row has no line
    break, or a row has fewer fields than the header (pandas would fill them with NaN and the
    cut row, or what is left of it, would be used)."""
    import csv

    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) not in (b"\n", b"\r"):
                    raise BenchmarkError(f"{path} is cut: its last row does not end with a line break (an "
                                         "interrupted download or copy?); copy the file again")
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            rows = csv.reader(fh)
            header = next(rows, [])
            for line, row in enumerate(rows, start=2):
                if row and len(row) != len(header):
                    raise BenchmarkError(
                        f"{path} is cut or malformed: row {line} has {len(row)} of the header's {len(header)} fields "
                        "(an interrupted download or copy?); copy the file again")
    except (OSError, csv.Error) as exc:
        raise BenchmarkError(f"{path} is not a readable CSV file ({exc}); copy the file again") from None


def empty_fold_warnings(manifest: dict[str, Any]) -> list[str]:
    """One line per held-out or training fold without records (the ptbxl-icbeb task refuses to run then)."""
    p, f = manifest["ptbxl"], manifest["icbeb"]["folds"]
    counts = {"PTB-XL strat_fold 1-8 (source)": p["source_folds_1_8"],
              "PTB-XL strat_fold 9-10 (held-out source test)": p["held_out_folds_9_10"],
              "ICBEB folds 1-8 (target training pool)": f["train_1_8"], "ICBEB fold 9 (validation)": f["validation_9"],
              "ICBEB fold 10 (test)": f["test_10"]}
    return [f"WARNING: {name} is empty: the ptbxl-icbeb task cannot run on this data; check {METADATA[0]} and "
            f"{METADATA[2]}" for name, n in counts.items() if n == 0]


def _save_npz(path: Path, **arrays: np.ndarray) -> str:
    """Write an uncompressed .npz atomically; returns its SHA-256."""
    atomic_write_with(path, lambda fh: np.savez(fh, **arrays))
    return sha256_file(path)


def _counts(hot: np.ndarray, y: np.ndarray) -> dict[str, dict[str, int]]:
    return {"any": {c: int(hot[:, k].sum()) for k, c in enumerate(ECG_CLASSES)},
            "primary": {c: int((y == k).sum()) for k, c in enumerate(ECG_CLASSES)}}


def _read_all(read: Callable[[Any], Any], items: Sequence[Any], jobs: int, desc: str, progress: bool) -> Iterator[Any]:
    """``read(item)`` for every item, in order; ``jobs`` > 1 reads in joblib (loky) worker processes."""
    if jobs > 1:
        from joblib import Parallel, delayed

        results: Iterable[Any] = Parallel(n_jobs=jobs, batch_size=32, return_as="generator")(
            delayed(read)(item) for item in items)
    else:
        results = map(read, items)
    if progress:
        from tqdm import tqdm

        results = tqdm(results, total=len(items), desc=desc, unit="rec", leave=False)
    return iter(results)


def build(data_dir: Path, folder: Path, label_map: LabelMap, inputs: dict[str, Any], progress: bool,
          jobs: int = 1) -> dict[str, Any]:
    """Read both datasets, write the arrays and then the manifest; returns the manifest."""
    t0 = time.perf_counter()
    p_dir, i_dir = data_dir / PTBXL_DIR, data_dir / ICBEB_DIR
    for rel in METADATA:
        check_complete_csv(data_dir / rel)
    p_index = ptbxl.read_index(p_dir, label_map)
    ptbxl.check_records(p_dir, p_index)
    i_index = icbeb.read_index(i_dir, label_map)
    p_x = np.zeros((len(p_index.filename), 12, RECORD_LENGTH), dtype=np.float32)
    read_p = functools.partial(ptbxl.read_record, p_dir)
    for row, x in enumerate(_read_all(read_p, p_index.filename, jobs, "PTB-XL", progress)):
        p_x[row] = x
    i_x = np.zeros((len(i_index.names), 12, RECORD_LENGTH), dtype=np.float32)
    seconds = np.zeros(len(i_index.names))
    for row, (x, sec) in enumerate(_read_all(icbeb.read_record, i_index.paths, jobs, "ICBEB2018", progress)):
        i_x[row], seconds[row] = x, sec
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").unlink(missing_ok=True)  # no manifest beside half-replaced arrays
    arrays = {
        "ptbxl.npz": _save_npz(folder / "ptbxl.npz", x=p_x, y=p_index.primary, multi_hot=p_index.multi_hot,
                               fold=p_index.strat_fold, ids=p_index.ecg_id.astype(str)),
        "icbeb.npz": _save_npz(folder / "icbeb.npz", x=i_x, y=i_index.first, multi_hot=i_index.multi_hot,
                               fold=i_index.fold, ids=np.array(i_index.names, dtype=str)),
    }
    held = np.isin(p_index.strat_fold, ptbxl.HELD_OUT_FOLDS)
    i_counts = _counts(i_index.multi_hot, i_index.first)
    manifest = {
        "inputs": inputs,
        "data_dir": str(data_dir),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.perf_counter() - t0, 2),
        "ptbxl": {"rows": p_index.n_rows, "statements": p_index.n_statements, "kept": len(p_x),
                  "source_folds_1_8": int((~held).sum()), "held_out_folds_9_10": int(held.sum()),
                  "classes": _counts(p_index.multi_hot, p_index.primary)},
        "icbeb": {"rows": len(i_x), "seconds_min": float(seconds.min()) if len(seconds) else 0.0,
                  "seconds_max": float(seconds.max()) if len(seconds) else 0.0,
                  "cut": int((seconds > RECORD_SECONDS).sum()), "padded": int((seconds < RECORD_SECONDS).sum()),
                  "folds": {"train_1_8": int(np.isin(i_index.fold, icbeb.TRAIN_FOLDS).sum()),
                            "validation_9": int((i_index.fold == icbeb.VALIDATION_FOLD).sum()),
                            "test_10": int((i_index.fold == icbeb.TEST_FOLD).sum())},
                  "classes": {"any": i_counts["any"], "first_label": i_counts["primary"]}},
        "arrays": arrays,
    }
    atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(folder: Path) -> Optional[dict[str, Any]]:
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def stale_reason(manifest: Optional[dict[str, Any]], inputs: dict[str, Any], folder: Path,
                 verify: bool = False) -> Optional[str]:
    """Why the cache cannot be reused (None when it can)."""
    if manifest is None:
        return "no cache yet"
    old = manifest.get("inputs", {})
    if old != inputs:
        changed = [k for k in inputs["files"] if old.get("files", {}).get(k) != inputs["files"][k]]
        changed += [k for k in inputs if k != "files" and old.get(k) != inputs[k]]
        return f"the cache is stale ({', '.join(changed) or 'inputs'} changed)"
    for name, digest in manifest.get("arrays", {}).items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        if verify and sha256_file(path) != digest:
            return f"{path} does not match its checksum"
    return None


def ensure_cache(data_dir: Path, folder: Path, progress: bool, verify: bool, rebuild: bool,
                 echo: Callable[[str], None], jobs: int = 1) -> tuple[dict[str, Any], bool]:
    """Reuse or (re)build the cache under its lock; returns (manifest, built)."""
    from filelock import FileLock

    label_map = load_label_map()
    inputs = input_fingerprint(data_dir, label_map)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f"{CACHE_NAME}.lock")):
        manifest = read_manifest(folder)
        reason = "--rebuild was given" if rebuild else stale_reason(manifest, inputs, folder, verify)
        if reason is None:
            return manifest, False
        echo(f"building the ECG cache in {folder} ({reason}) ...")
        return build(data_dir, folder, label_map, inputs, progress, jobs), True


def format_summary(manifest: dict[str, Any], root: Path, folder: Path, built: bool) -> str:
    """What prepare prints: files, checksums, record and class counts, folds, cache state."""
    from tabulate import tabulate

    p, i, files = manifest["ptbxl"], manifest["icbeb"], manifest["inputs"]["files"]
    lines = [f"ECG data folder: {root}"]
    notes = {METADATA[0]: f"{p['rows']} rows", METADATA[1]: f"{p['statements']} statements",
             METADATA[2]: f"{i['rows']} rows"}
    rows = [[rel, f"sha256 {files[rel][:16]}", notes[rel]] for rel in METADATA]
    rows.append([f"{PTBXL_DIR}/{ptbxl.RECORDS_DIR}/", "", f"{p['kept']} records read (those with a mapped class)"])
    rows.append([f"{ICBEB_DIR}/ records", "", f"{i['rows']} read, {i['seconds_min']:.1f}-{i['seconds_max']:.1f} s; "
                 f"{i['cut']} cut and {i['padded']} zero-padded to {RECORD_SECONDS} s at {SAMPLE_RATE_HZ} Hz"])
    rows.append([LABEL_MAP_PATH.name, f"sha256 {manifest['inputs'][LABEL_MAP_PATH.name][:16]}",
                 "ICBEB class -> PTB-XL statements"])
    lines.append(tabulate(rows, tablefmt="plain"))
    lines.append(f"PTB-XL kept records: {p['source_folds_1_8']} in strat_fold 1-8 (source), "
                 f"{p['held_out_folds_9_10']} in strat_fold 9-10 (held-out source test)")
    f = i["folds"]
    lines.append(f"ICBEB folds: {f['train_1_8']} in 1-8 (target training pool), {f['validation_9']} in 9 "
                 f"(validation), {f['test_10']} in 10 (test)")
    table = [[c, p["classes"]["any"][c], p["classes"]["primary"][c], i["classes"]["any"][c],
              i["classes"]["first_label"][c]] for c in ECG_CLASSES]
    lines.append(tabulate(table, headers=["class", "PTB-XL any", "PTB-XL primary", "ICBEB any", "ICBEB first"],
                          tablefmt="simple"))
    state = (f"built in {manifest['build_seconds']:.1f} s" if built
             else "up to date: reused, nothing rebuilt (arrays verified against their checksums)")
    lines.append(f"cache: {folder} ({state})")
    return "\n".join(lines)


def prepare(data_dir: Optional[str | Path] = None, cache: Optional[str | Path] = None, rebuild: bool = False,
            progress: bool = True, echo: Callable[[str], None] = print, jobs: int = 1) -> dict[str, Any]:
    """Check the folder, build or reuse the cache, print the summary; returns the manifest.
    ``jobs`` > 1 reads the records in that many worker processes."""
    if jobs < 1:
        raise BenchmarkError(f"--jobs {jobs} is not allowed; give 1 or more")
    root = resolve_data_dir(data_dir)
    folder = resolve_cache_dir(root, cache)
    manifest, built = ensure_cache(root, folder, progress, verify=True, rebuild=rebuild, echo=echo, jobs=jobs)
    echo(format_summary(manifest, root, folder, built))
    for warning in empty_fold_warnings(manifest):  # loud: on stderr, after the summary
        print(warning, file=sys.stderr)
    return manifest


def _load(path: Path) -> EcgArrays:
    with np.load(path, allow_pickle=False) as z:
        return EcgArrays(x=z["x"], y=z["y"], multi_hot=z["multi_hot"], fold=z["fold"], ids=z["ids"])


def load_prepared(data_dir: Optional[str | Path] = None, cache: Optional[str | Path] = None,
                  progress: bool = False) -> PreparedEcg:
    """The cached arrays (built first when missing or stale), for the task."""
    root = resolve_data_dir(data_dir)
    folder = resolve_cache_dir(root, cache)
    manifest, _ = ensure_cache(root, folder, progress, verify=False, rebuild=False, echo=log.info)
    return PreparedEcg(_load(folder / "ptbxl.npz"), _load(folder / "icbeb.npz"), manifest, folder)
