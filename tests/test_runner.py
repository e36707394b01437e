"""The runner end to end through the CLI: smoke, skip-done, resume, --force, failures and
retries, two concurrent `run` processes, determinism, provenance, dry runs."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.planner import plan
from benchmark.registry import load_registries
from conftest import (RUN_FLAGS, by_method, copy_results, records, run_cli, run_counts, snapshot,
                      write_plugin)

GMM_METRICS = ("mmd", "mmd_median", "mmd_floor", "density_error", "logq_gap", "sliced_wasserstein")


@pytest.mark.slow
def test_smoke_runs_every_method(smoke_results: Path) -> None:
    """Every registered method on every task of the smoke suite that it supports: done."""
    regs = load_registries()
    suite = regs.suites.get("smoke")()
    planned = {(s.task, s.method) for s in plan(suite, regs)}
    for task in {c.task for c in suite.cells}:
        supported = {e.name for e in regs.methods if e.obj.supports(regs.tasks.get(task))}
        assert {m for t, m in planned if t == task} == supported, task
    recs = records(smoke_results)
    assert {(r["spec"]["task"], r["spec"]["method"]) for r in recs.values()} == planned
    assert "gmm2d" in {t for t, _ in planned}
    for rec in recs.values():
        name = (rec["spec"]["task"], rec["spec"]["method"])
        assert rec["status"] == "done", name
        assert rec["metrics"] and all(math.isfinite(v) for v in rec["metrics"].values()), name
        folder = smoke_results / "runs" / rec["run_id"]
        assert json.loads((folder / "spec.json").read_text()) == rec["spec"]
        samples = np.load(folder / "samples.npz")["samples"]
        assert samples.shape[0] == rec["resolved_task_params"]["n_eval"]
    for name, rec in by_method(smoke_results, "gmm2d").items():
        assert set(GMM_METRICS) <= set(rec["metrics"]), name
        assert {"mmd", "mmd_floor", "density_error", "sliced_wasserstein"} <= set(rec["metric_info"])


@pytest.mark.slow
def test_record_carries_provenance(smoke_results: Path) -> None:
    rec = by_method(smoke_results)["finetune"]
    env = rec["environment"]
    for key in ("git_commit", "git_dirty", "python", "torch", "numpy", "platform", "device", "torch_threads",
                "deterministic", "cpu_model", "cpu_capability"):
        assert key in env, key
    assert env["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability())
    assert isinstance(env["git_commit"], str) and len(env["git_commit"]) == 40
    assert isinstance(env["git_dirty"], bool)
    assert env["torch_threads"] == 1 and env["device"] == "cpu" and env["deterministic"] is False
    assert env["torch"].startswith("2.") and env["python"].count(".") == 2
    for key in ("fit_s", "sample_s", "eval_s"):
        assert rec["timings"][key] >= 0.0
    assert rec["memory"]["peak_rss_mb"] > 10
    assert rec["spec"].get("threads", 1) == 1 and "threads" not in rec["options"] and rec["options"]["deterministic"] is False
    assert set(rec["seeds"]) == {"init", "train", "sample", "eval"}
    assert rec["schema_version"] >= 1 and rec["finished"] >= rec["started"]
    assert rec["resolved_hparams"] == rec["spec"]["hparams"]
    # every shared stage was built once; the source model was reused by the other methods
    recs = by_method(smoke_results, "gmm2d").values()
    built = [s for r in records(smoke_results).values() for s in r["stages"]["built"]]
    reused = {s for r in records(smoke_results).values() for s in r["stages"]["reused"]}
    assert len(built) == len(set(built)) and reused <= set(built)
    unconditional_source = {s for s in built if s.startswith("source/")} & {
        s for r in recs if r["spec"]["method"] in ("finetune", "lora", "source-only") for s in
        r["stages"]["built"] + r["stages"]["reused"]}
    assert len(unconditional_source) == 1 and unconditional_source <= reused


@pytest.mark.slow
def test_skip_done_and_resume(smoke_results: Path, tmp_path: Path, cli_main) -> None:
    """A second `run` skips done runs without touching them; a run folder holding only its
    spec (a run that never finished) is executed."""
    missing = by_method(smoke_results)["scratch"]["run_id"]
    results = copy_results(smoke_results, tmp_path / "r",
                           skip=lambda p: p.parent.name == missing and p.name in ("record.json", "samples.npz"))
    assert (results / "runs" / missing / "spec.json").exists()
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (results / "runs").glob("*/record.json")}
    assert len(before) == len(records(smoke_results)) - 1

    code, out, err = cli_main("run", "--suite", "smoke", "--results", results, *RUN_FLAGS)
    assert code == 0, err
    assert run_counts(out) == {"done": 1, "skipped": len(before)}
    for path, (data, mtime) in before.items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime, path
    redone = json.loads((results / "runs" / missing / "record.json").read_text())
    assert redone["status"] == "done" and redone["metrics"] == by_method(smoke_results)["scratch"]["metrics"]
    assert not (results / "runs" / missing / "history").exists()  # nothing to archive
    assert "total: done %d" % (len(before) + 1) in out


@pytest.mark.slow
def test_force_reruns_and_keeps_the_old_record(smoke_results: Path, tmp_path: Path, cli_main) -> None:
    results = copy_results(smoke_results, tmp_path / "r")
    rid = by_method(smoke_results)["source-only"]["run_id"]
    old = (results / "runs" / rid / "record.json").read_bytes()
    code, out, _ = cli_main("run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "source-only", "--force",
                            "--results", results, *RUN_FLAGS)
    assert code == 0 and run_counts(out) == {"done": 1}
    (kept,) = (results / "runs" / rid / "history").glob("record.replaced.*.json")
    assert kept.read_bytes() == old
    assert len(list((results / "runs" / rid / "history").glob("samples.replaced.*.npz"))) == 1
    new = json.loads((results / "runs" / rid / "record.json").read_text())
    assert new["status"] == "done" and new["started"] > json.loads(old)["started"]
    assert new["stages"]["built"] == []  # the cached source model was reused


FLAKY = textwrap.dedent('''
    """flaky: fails while a file FAIL lies next to this plugin, else draws N(0, I)."""
    from pathlib import Path

    import torch

    from benchmark.api import Method
    from benchmark.registry import register_method

    FLAG = Path(__file__).with_name("FAIL")


    @register_method("flaky", "fails while FAIL exists next to the plugin")
    class Flaky(Method):
        def fit(self, ctx):
            if FLAG.exists():
                raise RuntimeError("planned failure " + FLAG.read_text())
            self.dim = ctx.data.target_x.shape[1]

        def sample(self, n, labels, generator):
            return torch.randn(n, self.dim, generator=generator)
''')


@pytest.mark.slow
def test_failure_is_recorded_shown_and_retried(tmp_path: Path, cli_main) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "flaky", FLAKY)
    flag = plugins / "FAIL"
    flag.write_text("#1")
    results = tmp_path / "r"
    args = ("--suite", "smoke", "--tasks", "gmm2d", "--methods", "flaky", "--plugins", plugins, "--results", results)

    code, out, err = cli_main("run", *args, *RUN_FLAGS)
    assert code == 1, err  # a failed run: exit status 1, not a crash
    assert run_counts(out) == {"failed": 1}
    ((rid, rec),) = records(results).items()
    assert rec["status"] == "failed" and "metrics" not in rec
    assert rec["error"]["type"] == "RuntimeError" and rec["error"]["message"] == "planned failure #1"
    assert "Traceback (most recent call last)" in rec["error"]["traceback"] and "flaky.py" in rec["error"]["traceback"]
    assert "planned failure #1" in (results / "runs" / rid / "log.txt").read_text()

    code, out, _ = cli_main("status", *args)
    assert code == 0
    assert f"failed: {rid} " in out and "flaky" in out and "planned failure #1" in out
    assert "total: failed 1" in out

    flag.unlink()  # the cause is gone: the next run retries and succeeds
    failed_bytes = (results / "runs" / rid / "record.json").read_bytes()
    code, out, _ = cli_main("run", *args, *RUN_FLAGS)
    assert code == 0 and run_counts(out) == {"done": 1}
    assert records(results)[rid]["status"] == "done"
    (kept,) = (results / "runs" / rid / "history").glob("record.failed.*.json")
    assert kept.read_bytes() == failed_bytes
    log = (results / "runs" / rid / "log.txt").read_text()
    assert log.count(" INFO start ") == 2 and log.count(" INFO done ") == 1
    code, out, _ = cli_main("status", *args)
    assert "total: done 1" in out and "failed:" not in out


@pytest.mark.slow
def test_same_spec_twice_gives_identical_metrics(smoke_results: Path, tmp_path: Path) -> None:
    """The lora and finetune runs of the smoke suite, executed again in a fresh results folder
    (fresh artifact cache, the stages built in another order) at the same thread count."""
    fresh = tmp_path / "fresh"
    proc = run_cli("run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "lora", "finetune", "--results", fresh,
                   *RUN_FLAGS)
    assert proc.returncode == 0, proc.stderr
    old, new = records(smoke_results), records(fresh)
    assert len(new) == 2
    for rid, rec in new.items():
        assert rec["metrics"] == old[rid]["metrics"], rec["spec"]["method"]
        assert rec["seeds"] == old[rid]["seeds"]
        a = np.load(smoke_results / "runs" / rid / "samples.npz")["samples"]
        b = np.load(fresh / "runs" / rid / "samples.npz")["samples"]
        assert np.array_equal(a, b)


def test_dry_run_prints_the_plan_and_writes_nothing(cli_main, tmp_path: Path) -> None:
    regs = load_registries()
    specs = plan(regs.suites.get("quick")(), regs)
    code, out, err = cli_main("run", "--all", "--dry-run", "--results", tmp_path / "r")
    assert code == 0 and err == ""
    lines = out.splitlines()
    cells = {(s.task, s.method, s.n_target) for s in specs}
    assert lines[0] == f"suite quick (seed 0): {len(specs)} runs in {len(cells)} cells"
    assert len(lines) == 1 + len(cells)
    for s in specs:
        assert s.run_id[:8] in out
    for task, method, n in cells:
        runs = sum(1 for s in specs if (s.task, s.method, s.n_target) == (task, method, n))
        assert any(f" {method} " in line and f"n_target={n} " in line and f"runs={runs}" in line and task in line
                   for line in lines[1:]), (task, method, n)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_bad_launcher_and_jobs(cli_main, smoke_results: Path, tmp_path: Path) -> None:
    results = copy_results(smoke_results, tmp_path / "r")
    before = snapshot(results)
    code, _, err = cli_main("run", "--suite", "smoke", "--results", results, "--launcher", "carrier-pigeon", *RUN_FLAGS)
    assert code == 2 and "unknown launcher 'carrier-pigeon'" in err
    code, _, err = cli_main("run", "--suite", "smoke", "--results", results, *RUN_FLAGS, "--jobs", "0")
    assert code == 2 and "--jobs 0 is not allowed" in err
    assert snapshot(results) == before
