"""``python -m benchmark verify RUN_ID``: a rerun from scratch compared with the record."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmark.verify import compare
from conftest import RUN_FLAGS, by_method, one_error_line, snapshot


@pytest.fixture(scope="module")
def done_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder with one deterministic lora run (its source stage cached)."""
    import torch

    from benchmark.cli import main

    results = tmp_path_factory.mktemp("verify") / "r"
    threads = torch.get_num_threads()
    try:
        code = main(["run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "lora", "--results", str(results), "--deterministic",
                     *RUN_FLAGS])
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)
    assert code == 0
    return results


@pytest.mark.slow
def test_verify_reruns_in_a_fresh_folder_and_finds_identical_bits(done_run: Path, cli_main) -> None:
    rid = by_method(done_run)["lora"]["run_id"]
    before = snapshot(done_run)
    code, out, err = cli_main("verify", rid[:8], "--results", done_run, "--quiet")
    assert code == 0, out + err
    assert f"verify {rid}" in out and "bit-identical (deterministic CPU run)" in out
    n = len(by_method(done_run)["lora"]["metrics"])
    assert f"verified: {n} metrics identical" in out
    assert snapshot(done_run) == before, "verify must not write into the results folder"


@pytest.mark.slow
def test_verify_reports_a_one_ulp_difference(done_run: Path, tmp_path: Path, cli_main) -> None:
    import shutil

    results = Path(shutil.copytree(done_run, tmp_path / "r"))
    rec_path = results / "runs" / by_method(results)["lora"]["run_id"] / "record.json"
    rec = json.loads(rec_path.read_text())
    rec["metrics"]["mmd"] = math.nextafter(rec["metrics"]["mmd"], math.inf)
    rec_path.write_text(json.dumps(rec))
    code, out, _ = cli_main("verify", rec["run_id"], "--results", results, "--quiet")
    assert code == 1
    line = next(ln for ln in out.splitlines() if ln.startswith("mmd "))
    assert "DIFFERS" in line and repr(rec["metrics"]["mmd"]) in line
    assert "NOT verified: 1 of" in out and "(mmd)" in out


@pytest.mark.slow
def test_verify_user_errors(done_run: Path, tmp_path: Path, cli_main) -> None:
    code, _, err = cli_main("verify", "ffffffffffff", "--results", done_run)
    assert code == 2 and "no run 'ffffffffffff'" in one_error_line(err)
    code, _, err = cli_main("verify", "abc", "--results", done_run, "--rtol", "-1")
    assert code == 2 and "--rtol and --atol" in one_error_line(err)


def test_another_cpu_turns_the_bit_rule_into_the_tolerance_rule() -> None:
    from benchmark.provenance import cpu_description
    from benchmark.verify import _environment_notes, same_cpu

    here = cpu_description()
    assert same_cpu({"environment": dict(here)}) and same_cpu({"environment": {}})  # old records: no fields
    other = {"environment": {**here, "cpu_capability": "NOT-" + here["cpu_capability"]}}
    assert not same_cpu(other)
    notes = _environment_notes(other, "cpu", 1)
    assert any("another CPU" in n and "tolerance rule" in n for n in notes), notes
    assert not any("another CPU" in n for n in _environment_notes({"environment": dict(here)}, "cpu", 1))


def test_compare_rules() -> None:
    rec = {"a": 1.0, "b": 0.0, "c": float("nan"), "gone": 2.0}
    new = {"a": 1.0 + 1e-15, "b": 0.0, "c": float("nan"), "extra": 3.0}
    exact = {d.name: d.ok for d in compare(rec, new, exact=True)}
    assert exact == {"a": False, "b": True, "c": True, "gone": False, "extra": False}
    loose = {d.name: d.ok for d in compare({"a": 1.0, "b": 0.0}, {"a": 1.04, "b": 5e-5}, exact=False,
                                           rtol=0.05, atol=1e-4)}
    assert loose == {"a": True, "b": True}
    assert not compare({"a": 1.0}, {"a": 1.06}, exact=False, rtol=0.05, atol=1e-4)[0].ok
