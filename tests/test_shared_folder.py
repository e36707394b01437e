"""Issue 23: nothing in a results folder runs code, every record is the run it claims to be,
and bad values stop before they are written.

A results folder is shared (a cluster file system, runs copied in by a colleague, SLURM jobs
writing into it), so the suite treats its files as data: no pickle from it is unpickled, no
plugin folder named in it is imported, a record counts only in the folder of its own run id,
and a cached stage only under its own key.  Each test below plants what a careless or hostile
writer could put there and checks that nothing runs and nothing wrong is counted as done.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from benchmark.artifacts import ArtifactCache
from benchmark.errors import BenchmarkError
from benchmark.spec import RunSpec
from benchmark.store import CORRUPT, DONE, RunStore
from conftest import RUN_FLAGS, by_method, copy_results, one_error_line, records, write_plugin


class _Planted:
    """Unpickling this creates the folder ``marker``: proof that code from the folder ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def planted_pickle(marker: Path) -> bytes:
    return pickle.dumps(_Planted(marker))


def strict_json(text: str):
    """``json.loads`` that refuses NaN and infinities (what every JSON reader but Python's does)."""
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def planned_ids(*args: str) -> list[str]:
    """Run ids of ``run --suite smoke ARGS`` (no run executed)."""
    from benchmark.planner import plan, select
    from benchmark.registry import load_registries

    regs = load_registries(())
    suite = select(regs.suites.get("smoke")(), regs, *args)
    return [s.run_id for s in plan(suite, regs)]


# -- 1. status never unpickles submitit's result file -------------------------------------------

def _job_file(results: Path, rid: str, job_folder: Path, job_id: str = "4242") -> Path:
    from submitit.core.utils import JobPaths

    folder = results / "runs" / rid
    folder.mkdir(parents=True)
    (folder / "slurm.json").write_text(json.dumps({"job_id": job_id, "cluster": "local", "folder": str(job_folder)}))
    job_folder.mkdir(parents=True, exist_ok=True)
    return JobPaths(str(job_folder), job_id=job_id, task_id=0).result_pickle


def test_status_does_not_unpickle_the_result_file_a_job_file_names(tmp_path: Path, cli_main) -> None:
    results, marker = tmp_path / "r", tmp_path / "pwned"
    (rid,) = planned_ids(["gmm2d"], ["scratch"])
    _job_file(results, rid, tmp_path / "jobs").write_bytes(planted_pickle(marker))
    code, out, err = cli_main("status", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "scratch",
                              "--results", results)
    assert code == 0, err
    assert not marker.exists(), "status ran code from a pickle in the results folder"
    assert "total: missing 1" in out


def test_status_still_reads_a_failed_jobs_message_without_unpickling(tmp_path: Path, cli_main) -> None:
    results = tmp_path / "r"
    (rid,) = planned_ids(["gmm2d"], ["scratch"])
    result = _job_file(results, rid, tmp_path / "jobs")
    result.write_bytes(pickle.dumps(("error", "Traceback (most recent call last):\n  ...\nValueError: boom\n")))
    code, out, err = cli_main("status", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "scratch",
                              "--results", results)
    assert code == 0, err
    assert "failed in local job 4242: ValueError: boom" in out


# -- 2, 6. the artifact cache loads tensors only, and only under its own key --------------------

def _entry(tmp_path: Path, key: dict) -> tuple[ArtifactCache, Path]:
    cache = ArtifactCache(tmp_path / "artifacts")
    cache.get_or_build("source", key, lambda: {"state": {"w": torch.ones(3)}, "final_loss": 0.5})
    return cache, cache.path("source", key)


def test_a_planted_payload_with_a_matching_hash_runs_no_code_and_is_rebuilt(tmp_path: Path) -> None:
    import hashlib

    key, marker = {"data": "k1"}, tmp_path / "pwned"
    _, folder = _entry(tmp_path, key)
    data = planted_pickle(marker)
    (folder / "payload.pt").write_bytes(data)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "sha256": hashlib.sha256(data).hexdigest()}))

    fresh = ArtifactCache(tmp_path / "artifacts")
    payload = fresh.get_or_build("source", key, lambda: {"state": {"w": torch.zeros(3)}})
    assert not marker.exists(), "loading a cached stage ran code from the results folder"
    assert torch.equal(payload["state"]["w"], torch.zeros(3)) and fresh.builds
    assert list(folder.parent.glob(f"{folder.name}.damaged-*")), "the planted entry is kept aside, not deleted"


def test_an_entry_copied_from_another_key_is_not_used(tmp_path: Path) -> None:
    cache, a = _entry(tmp_path, {"data": "A"})
    b = cache.path("source", {"data": "B"})
    shutil.copytree(a, b)  # A's payload and meta (with A's key and a valid hash) under B's name
    fresh = ArtifactCache(tmp_path / "artifacts")
    payload = fresh.get_or_build("source", {"data": "B"}, lambda: {"state": {"w": torch.full((3,), 2.0)}})
    assert torch.equal(payload["state"]["w"], torch.full((3,), 2.0)), "another key's model was used"
    assert fresh.builds == [f"source/{b.name}"]


def test_a_stage_that_is_not_plain_data_is_refused_at_build(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "artifacts")
    with pytest.raises(TypeError, match="store models as state dicts"):
        cache.get_or_build("source", {"data": "m"}, lambda: {"model": torch.nn.Linear(2, 2)})
    assert not cache.path("source", {"data": "m"}).exists()


def test_every_stage_the_smoke_suite_caches_loads_as_weights_only(smoke_results: Path) -> None:
    payloads = sorted((smoke_results / "artifacts").glob("*/*/payload.pt"))
    assert len({p.parent.parent.name for p in payloads}) >= 4, [str(p) for p in payloads]
    for path in payloads:
        torch.load(path, map_location="cpu", weights_only=True)


# -- 3. verify imports only the plugin folders of the command line ------------------------------

def test_verify_does_not_import_the_plugin_folders_a_record_names(smoke_results: Path, tmp_path: Path,
                                                                   cli_main) -> None:
    results, marker = copy_results(smoke_results, tmp_path / "r"), tmp_path / "pwned"
    planted = write_plugin(tmp_path / "planted", "planted", f"import os\nos.mkdir({str(marker)!r})\n").parent
    record = by_method(results)["source-only"]
    rid = record["run_id"]
    path = results / "runs" / rid / "record.json"
    record["options"]["plugin_dirs"] = [str(planted)]
    path.write_text(json.dumps(record))
    code, out, err = cli_main("verify", rid, "--results", results, "--quiet")
    assert not marker.exists(), "verify imported a plugin folder named inside a record"
    assert code == 0, out + err
    assert f"the record was made with plugin folders {planted}" in out


# -- 4. nothing reaches the SLURM batch script with a control character -------------------------

@pytest.mark.parametrize("flags", [["--results", "R\ntouch X #"], ["--slurm-partition", "p\ntouch X #"],
                                   ["--slurm-folder", "F\rtouch X"]], ids=["results", "partition", "folder"])
def test_control_characters_never_reach_the_batch_script(tmp_path: Path, cli_main, monkeypatch, flags) -> None:
    monkeypatch.chdir(tmp_path)
    if flags[0] != "--results":
        flags = [*flags, "--results", "r"]
    code, out, err = cli_main("run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "scratch",
                              "--launcher", "slurm", *flags, *RUN_FLAGS)
    assert code == 2 and out == ""
    assert "control character" in one_error_line(err)
    assert list(tmp_path.iterdir()) == [], "nothing is created"


def test_slurm_options_refuse_odd_partitions_and_non_finite_memory() -> None:
    from benchmark.launchers.slurm import SlurmOptions

    for bad in ("gpu; touch X", "a b", "p$(id)"):
        with pytest.raises(BenchmarkError, match="not a partition name"):
            SlurmOptions(partition=bad)
    assert SlurmOptions(partition="gpu,cpu-long").partition == "gpu,cpu-long"
    for value in (float("nan"), float("inf")):
        with pytest.raises(BenchmarkError, match="--slurm-mem-gb"):
            SlurmOptions(mem_gb=value)


# -- 5. a record counts only in the folder of its own run id ------------------------------------

def test_a_record_copied_from_another_run_is_corrupt_everywhere(smoke_results: Path, tmp_path: Path,
                                                                  cli_main) -> None:
    results = copy_results(smoke_results, tmp_path / "r")
    runs = by_method(results)
    src, dst = results / "runs" / runs["scratch"]["run_id"], results / "runs" / runs["finetune"]["run_id"]
    for name in ("record.json", "samples.npz"):
        shutil.copyfile(src / name, dst / name)
    state = RunStore(results).state(dst.name)
    assert state.status == CORRUPT and f"holds the spec of run {src.name}" in state.reason
    assert RunStore(results).state(src.name).status == DONE

    code, out, err = cli_main("status", "--suite", "smoke", "--tasks", "gmm2d", "--results", results)
    assert code == 0, err
    assert f"corrupt: {dst.name} gmm2d finetune" in out
    code, out, err = cli_main("report", "--results", results, "--out", tmp_path / "rep")
    assert code == 0, err
    assert dst.name in (tmp_path / "rep" / "missing.csv").read_text()


# -- 7, 8. non-finite metrics and wrong samples fail the run ------------------------------------

FAKE = '''
from dataclasses import dataclass

import torch

from benchmark.api import Method
from benchmark.registry import register_method


@dataclass(frozen=True)
class FakeParams:
    mode: str = "ok"


@register_method("fake-sampler", "Gaussian noise; misbehaves as its mode says (tests)")
class FakeSampler(Method):
    Params = FakeParams

    def fit(self, ctx):
        self.shape = ctx.data.sample_shape
        if self.params.mode == "nan-diagnostic":
            ctx.diagnostics["fake_ratio_error"] = float("nan")
        if self.params.mode == "inf-diagnostic":
            ctx.diagnostics["fake_ratio_error"] = float("-inf")

    def sample(self, n, labels, generator):
        rows = n // 2 if self.params.mode == "half" else n
        shape = (self.shape[0] + 1,) if self.params.mode == "wrong-shape" else self.shape
        return torch.randn(rows, *shape, generator=generator)
'''


def _fake_run(tmp_path: Path, cli_main, mode: str) -> tuple[int, dict]:
    plugins = write_plugin(tmp_path / "plugins", "fake_sampler", FAKE).parent
    results = tmp_path / "r"
    code, _, err = cli_main("run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "fake-sampler",
                            "--plugins", plugins, "--set", f"fake-sampler.mode={mode}", "--results", results,
                            *RUN_FLAGS)
    (record,) = records(results).values()
    return code, record


@pytest.mark.parametrize("mode", ["nan-diagnostic", "inf-diagnostic"])
def test_a_non_finite_diagnostic_fails_the_run_by_name_and_json_stays_strict(tmp_path: Path, cli_main,
                                                                             mode: str) -> None:
    code, record = _fake_run(tmp_path, cli_main, mode)
    assert code == 1 and record["status"] == "failed"
    assert "metric fake_ratio_error is" in record["error"]["message"]
    for path in (tmp_path / "r" / "runs").glob("*/record.json"):
        strict_json(path.read_text())


@pytest.mark.parametrize("mode,shape", [("half", "(100, 2)"), ("wrong-shape", "(200, 3)")])
def test_samples_of_the_wrong_count_or_shape_fail_the_run(tmp_path: Path, cli_main, mode: str, shape: str) -> None:
    code, record = _fake_run(tmp_path, cli_main, mode)
    assert code == 1 and record["status"] == "failed"
    assert f"fake-sampler.sample(200) returned shape {shape}, expected (200, 2)" in record["error"]["message"]


def test_a_well_behaved_fake_sampler_is_done(tmp_path: Path, cli_main) -> None:
    code, record = _fake_run(tmp_path, cli_main, "ok")
    assert code == 0 and record["status"] == "done"


def test_write_record_refuses_non_finite_values(tmp_path: Path) -> None:
    spec = RunSpec("smoke", 0, "gmm2d", {"n_target": 10}, "scratch", {}, 0)
    with pytest.raises(ValueError):
        RunStore(tmp_path).write_record(spec.run_id, {"run_id": spec.run_id, "metrics": {"m": float("nan")}})


# -- 9. seeds and trials are checked at planning time -------------------------------------------

@pytest.mark.parametrize("seed", [str(2**63), str(10**30), "-1"])
def test_seeds_beyond_int64_are_refused_before_planning(tmp_path: Path, cli_main, seed: str) -> None:
    code, out, err = cli_main("run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "scratch", "--seeds", seed,
                              "--results", tmp_path / "r", "--dry-run")
    assert code == 2 and out == ""
    assert f"--seeds {seed} is not allowed; give an integer from 0 to {2**63 - 1}" in one_error_line(err)
    assert not (tmp_path / "r").exists()


def test_a_suite_with_a_trial_beyond_int64_is_refused(tmp_path: Path) -> None:
    from dataclasses import replace

    from benchmark.planner import plan
    from benchmark.registry import load_registries

    regs = load_registries(())
    suite = regs.suites.get("smoke")()
    bad = replace(suite, cells=(replace(suite.cells[0], seeds=(2**64,)),))
    with pytest.raises(BenchmarkError, match="trial 18446744073709551616 is not allowed"):
        plan(bad, regs)


# -- 10-12. bad input and leftovers: one line each ----------------------------------------------

SMOKE_SCRATCH = ("--suite", "smoke", "--tasks", "gmm2d", "--methods", "scratch")


@pytest.mark.parametrize("extra,message", [
    (["--set", "lora.rank=8"], "--set lora.rank: method lora is not planned here (planned: scratch)"),
    (["--set", "scratch.steps=3", "tgdp.guid_steps=2"], "method tgdp is not planned here"),
    (["--results", ""], "--results is empty"),
    (["--plugins", ""], "--plugins is empty"),
    (["--suite", ""], "--suite is empty"),
    (["--results", "r\udcff"], "--results 'r?' is not valid UTF-8"),
], ids=["set-unplanned", "set-second-unplanned", "results", "plugins", "suite", "non-utf8"])
def test_bad_selection_is_one_line(tmp_path: Path, cli_main, monkeypatch, extra, message) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli_main("run", *SMOKE_SCRATCH, "--results", "r", *extra, "--dry-run")
    assert code == 2 and out == ""
    assert message in one_error_line(err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra,message", [
    (["0" * 10_000], "is not a run id (too long or with control characters)"),
    (["abc", "--rtol", "inf"], "must be finite numbers, 0 or more (got --rtol inf, --atol 0.0001)"),
    (["abc", "--rtol", "nan"], "must be finite numbers, 0 or more (got --rtol nan, --atol 0.0001)"),
    (["abc", "--atol", "-1"], "must be finite numbers, 0 or more (got --rtol 0.05, --atol -1.0)"),
], ids=["long-id", "rtol-inf", "rtol-nan", "atol-negative"])
def test_bad_verify_input_is_one_line(tmp_path: Path, cli_main, extra, message) -> None:
    (tmp_path / "r" / "runs").mkdir(parents=True)
    code, out, err = cli_main("verify", *extra, "--results", tmp_path / "r")
    assert code == 2 and out == ""
    assert message in one_error_line(err)


@pytest.mark.parametrize("out,message", [("x" * 300, "File name too long"), ("", "--out is empty")],
                         ids=["too-long", "empty"])
def test_report_write_errors_are_one_line(tmp_path: Path, cli_main, out: str, message: str) -> None:
    (tmp_path / "r" / "runs").mkdir(parents=True)
    code, stdout, err = cli_main("report", "--results", tmp_path / "r", "--out", tmp_path / out if out else "")
    assert code == 2 and stdout == ""
    assert message in one_error_line(err)


def test_a_bad_reference_file_and_a_missing_readme_are_one_line(tmp_path: Path, cli_main) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[1, 2]\n")
    code, _, err = cli_main("reference", "--check", "--reference", bad)
    assert code == 2 and "is not a reference file" in one_error_line(err)
    code, _, err = cli_main("reference", "--check", "--reference", "results/reference/smoke.jsonl",
                            "--readme", tmp_path / "missing.md")
    assert code == 2 and "No such file or directory" in one_error_line(err)


def test_a_fifo_named_record_json_does_not_hang_status(tmp_path: Path) -> None:
    from conftest import run_cli

    results = tmp_path / "r"
    (rid,) = planned_ids(["gmm2d"], ["scratch"])
    folder = results / "runs" / rid
    folder.mkdir(parents=True)
    os.mkfifo(folder / "record.json")
    proc = run_cli("status", *SMOKE_SCRATCH, "--results", results, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"corrupt: {rid}" in proc.stdout and "not a regular file" in proc.stdout


def test_the_next_report_removes_the_half_build_of_a_killed_one(tmp_path: Path) -> None:
    import subprocess
    import sys

    from benchmark.report.build import _host, remove_stale_builds

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    out = tmp_path / "reports"
    stale = tmp_path / f".reports.tmp-{_host()}-{int(dead.stdout)}-abc123"
    live = tmp_path / f".reports.tmp-{_host()}-{os.getpid()}-def456"
    other = tmp_path / ".reports.tmp-otherhost-1-xyz"
    for folder in (stale, live, other):
        (folder / "tables").mkdir(parents=True)
    assert remove_stale_builds(out) == [stale]
    assert not stale.exists() and live.exists() and other.exists()
