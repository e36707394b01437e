"""End to end: `python -m benchmark run` on tiny ecg-synth settings gives, for each method,
the downstream scores with intervals and the feature-space quality and spectral metrics."""

from __future__ import annotations

import json

import pytest

from conftest import RUN_FLAGS, run_cli

METHODS = ("source-only", "finetune", "tgdp-cond")
INTERVAL_KEYS = [f"downstream_{m}{s}" for m in ("auc", "accuracy", "f1", "fbeta2", "gbeta2") for s in ("", "_lo", "_hi")]
FEATURE_KEYS = [f"feature_{m}" for m in ("mmd", "fd", "precision", "recall", "density", "coverage")] + ["psd_distance"]


@pytest.mark.slow
def test_ecg_synth_runs_end_to_end_with_shared_stages(tmp_path):
    res = tmp_path / "results"
    proc = run_cli("run", "--suite", "smoke", "--tasks", "ecg-synth", "--methods", *METHODS, "--results", res,
                   *RUN_FLAGS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in sorted(res.glob("runs/*/record.json"))]
    assert sorted(r["spec"]["method"] for r in records) == sorted(METHODS)
    for rec in records:
        assert rec["status"] == "done", rec.get("error")
        m = rec["metrics"]
        for key in INTERVAL_KEYS + [k.replace("downstream_", "downstream_real_") for k in INTERVAL_KEYS] + FEATURE_KEYS:
            assert key in m, (rec["spec"]["method"], key)
        for name in ("auc", "accuracy"):
            assert m[f"downstream_{name}_lo"] <= m[f"downstream_{name}"] <= m[f"downstream_{name}_hi"]
        assert m["downstream_pseudo_labels"] == (0.0 if rec["spec"]["method"] == "tgdp-cond" else 1.0)
    built = [s for r in records for s in r["stages"]["built"]]
    # every method is scored by one feature classifier and one real-only downstream classifier
    assert sum(s.startswith("ecg-feature-classifier/") for s in built) == 1
    assert sum(s.startswith("ecg-downstream-real/") for s in built) == 1
    assert sum(s.startswith("source/") for s in built) == 2  # unconditional and label-conditional
    real = {r["metrics"]["downstream_real_auc"] for r in records}
    assert len(real) == 1
    # the same spec on the CPU gives bit-identical metrics (cached stages reused)
    again = run_cli("run", "--suite", "smoke", "--tasks", "ecg-synth", "--methods", "finetune", "--force",
                    "--results", res, *RUN_FLAGS)
    assert again.returncode == 0, again.stderr[-2000:]
    first = next(r for r in records if r["spec"]["method"] == "finetune")
    rerun = json.loads((res / "runs" / first["run_id"] / "record.json").read_text())
    assert rerun["metrics"] == first["metrics"]
