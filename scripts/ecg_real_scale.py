"""Scale check of the PTB-XL -> ICBEB2018 data path on a synthetic folder of the real size.

    python scripts/ecg_real_scale.py --out DIR [--ptbxl 21799] [--icbeb 6877] [--jobs 16]

Writes ``DIR/ptbxl`` and ``DIR/icbeb2018`` in the real layouts with random smooth signals
(no real data is needed or downloaded): PTB-XL's 21,799 rows with 100 Hz, 10 s WFDB
records and scp_codes drawn so that about as many records carry a mapped class as in
PTB-XL (about 2/3); ICBEB's 6,877 PhysioNet-style records (.mat 'val' int16 + .hea, 500 Hz)
with First_label drawn from ICBEB's class counts and durations of 6-60 s (mean about 16 s).
Then it times, and prints as one JSON object:

- ``prepare`` building the cache with ``--jobs`` reader processes, and ``prepare`` again
  (reuse, which re-verifies the arrays' SHA-256);
- ``load_prepared`` + the ``ptbxl-icbeb`` task's ``build()`` at ``--n-target`` (690), with the
  process's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from benchmark.ecg.prepare import load_prepared, prepare

ICBEB_COUNTS = (918, 1098, 704, 207, 1695, 556, 672, 825, 202)  # NORM AF I-AVB LBBB RBBB PAC PVC STD STE
PTBXL_CODES = {  # primary statement -> probability; the rest carry only unmapped statements
    "NORM": 0.44, "AFIB": 0.07, "1AVB": 0.037, "CLBBB": 0.025, "CRBBB": 0.025, "PAC": 0.018, "PVC": 0.03,
    "STD_": 0.046, "STE_": 0.0013}
STATEMENTS = ("NORM", "AFIB", "1AVB", "CLBBB", "CRBBB", "PAC", "PVC", "STD_", "STE_", "IMI", "SR", "IRBBB")
LEADS_PTBXL = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]
LEADS_ICBEB = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def _smooth(rng: np.random.Generator, n: int, fs: int) -> np.ndarray:
    """(12, n) smooth random signals in mV: a few sines per lead."""
    t = np.arange(n) / fs
    freqs = rng.uniform(0.5, 15.0, size=(12, 4))
    amps = rng.uniform(0.05, 0.4, size=(12, 4))
    return (amps[..., None] * np.sin(2 * np.pi * freqs[..., None] * t + rng.uniform(0, 6.3, (12, 4, 1)))).sum(1)


def _write_ptbxl_chunk(root: str, ids: list[int], seed: int) -> None:
    import wfdb

    rng = np.random.default_rng(seed)
    for ecg_id in ids:
        folder = Path(root) / "records100" / f"{(ecg_id // 1000) * 1000:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        wfdb.wrsamp(f"{ecg_id:05d}_lr", fs=100, units=["mV"] * 12, sig_name=LEADS_PTBXL,
                    p_signal=_smooth(rng, 1000, 100).T, fmt=["16"] * 12, adc_gain=[1000.0] * 12,
                    baseline=[0] * 12, write_dir=str(folder))


def _write_icbeb_chunk(root: str, rows: list[tuple[int, float]], seed: int) -> None:
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    for i, seconds in rows:
        name, n = f"A{i:04d}", int(seconds * 500)
        adc = np.clip(_smooth(rng, n, 500) * 1000, -32000, 32000).round().astype(np.int16)
        savemat(str(Path(root) / f"{name}.mat"), {"val": adc}, format="4")
        lines = [f"{name} 12 500 {n} 05-Feb-2020 11:39:16"]
        lines += [f"{name}.mat 16+24 1000/mV 16 0 {adc[k, 0]} 0 0 {lead}" for k, lead in enumerate(LEADS_ICBEB)]
        (Path(root) / f"{name}.hea").write_text("\n".join(lines + ["#Age: 60", "#Sex: Male"]) + "\n")


def write_folder(out: Path, n_ptbxl: int, n_icbeb: int, jobs: int, seed: int = 0) -> None:
    import pandas as pd
    from joblib import Parallel, delayed

    rng = np.random.default_rng(seed)
    p_root, i_root = out / "ptbxl", out / "icbeb2018"
    p_root.mkdir(parents=True, exist_ok=True)
    i_root.mkdir(parents=True, exist_ok=True)
    names = list(PTBXL_CODES) + ["IMI"]
    probs = np.array(list(PTBXL_CODES.values()) + [1 - sum(PTBXL_CODES.values())])
    rows = []
    for ecg_id in range(1, n_ptbxl + 1):
        codes = {names[rng.choice(len(names), p=probs)]: 100.0, "SR": 0.0}
        if rng.random() < 0.03:
            codes["PVC"] = 0.0
        rows.append({"ecg_id": ecg_id, "patient_id": ecg_id, "age": 60, "sex": ecg_id % 2, "scp_codes": str(codes),
                     "strat_fold": 1 + ecg_id % 10, "filename_lr": f"records100/{(ecg_id // 1000) * 1000:05d}/"
                     f"{ecg_id:05d}_lr", "filename_hr": f"records500/{(ecg_id // 1000) * 1000:05d}/{ecg_id:05d}_hr"})
    pd.DataFrame(rows).to_csv(p_root / "ptbxl_database.csv", index=False)
    pd.DataFrame({"description": list(STATEMENTS)}, index=list(STATEMENTS)).to_csv(p_root / "scp_statements.csv")
    first = rng.choice(9, size=n_icbeb, p=np.array(ICBEB_COUNTS) / sum(ICBEB_COUNTS)) + 1
    seconds = np.clip(6 + rng.gamma(2.0, 5.0, size=n_icbeb), 6, 60).round(2)
    ref = ["Recording,First_label,Second_label,Third_label"] + [f"A{i + 1:04d},{f},," for i, f in enumerate(first)]
    (i_root / "REFERENCE.csv").write_text("\n".join(ref) + "\n")
    chunks = np.array_split(np.arange(1, n_ptbxl + 1), jobs * 4)
    Parallel(n_jobs=jobs)(delayed(_write_ptbxl_chunk)(str(p_root), c.tolist(), seed + k) for k, c in enumerate(chunks))
    chunks = np.array_split(np.arange(n_icbeb), jobs * 4)
    Parallel(n_jobs=jobs)(delayed(_write_icbeb_chunk)(str(i_root), [(int(i) + 1, float(seconds[i])) for i in c],
                                                      seed + 1000 + k) for k, c in enumerate(chunks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--ptbxl", type=int, default=21799)
    ap.add_argument("--icbeb", type=int, default=6877)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--n-target", type=int, default=690)
    args = ap.parse_args()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    write_folder(args.out, args.ptbxl, args.icbeb, args.jobs)
    timings["write_folder_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    manifest = prepare(args.out, progress=False, jobs=args.jobs, echo=lambda line: None)
    timings["prepare_build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prepare(args.out, progress=False, jobs=args.jobs, echo=lambda line: None)
    timings["prepare_reuse_s"] = time.perf_counter() - t0

    from benchmark.params import resolve_params
    from benchmark.registry import load_registries

    os.environ["TLDM_ECG_DIR"] = str(args.out)
    task_cls = load_registries().tasks.get("ptbxl-icbeb")
    t0 = time.perf_counter()
    load_prepared()
    timings["load_prepared_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = task_cls(resolve_params(task_cls.Params, {"n_target": args.n_target}), 0, 0).build()
    timings["task_build_s"] = time.perf_counter() - t0
    print(json.dumps({
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "jobs": args.jobs,
        "ptbxl": {k: manifest["ptbxl"][k] for k in ("rows", "kept", "source_folds_1_8", "held_out_folds_9_10")},
        "icbeb": {k: manifest["icbeb"][k] for k in ("rows", "cut", "padded", "folds")},
        "shapes": {"source_x": list(data.source_x.shape), "target_x": list(data.target_x.shape),
                   "test_x": list(data.test_x.shape), "oracle_x": list(data.oracle_x.shape)},
        "scale_mv": round(data.extras["scale_mv"], 4),
        "cache_mib": round(sum(p.stat().st_size for p in (args.out / ".tldm-cache").rglob("*.npz")) / 2**20, 1),
    }))


if __name__ == "__main__":
    main()
