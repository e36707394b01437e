"""Issue 12 §2 and §3: damaged state and bad input that used to get through.

* a record's arrays are checked by their hash: a damaged or missing ``samples.npz`` makes the
  run corrupt (``status``), ``run`` reruns it (old files kept in ``history/``), and ``report``
  lists it in ``missing.csv`` instead of crashing;
* records go through one schema check (``metrics: null``, a directory, wrong types);
* every numeric hyper-parameter of every registered Params class is range-checked by one
  shared rule (a Params class written today gets it for free);
* files respect the umask; the run log stops quietly when its file cannot be written;
* read-only commands take no run lock; a ``run`` that leaves runs to another process says so;
* the smaller CLI defects of §2.10.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from pathlib import Path

import pytest
from filelock import FileLock

from benchmark.errors import BenchmarkError
from benchmark.params import bounds, check_bounds, resolve_params
from benchmark.store import CORRUPT, DONE, RunStore, save_npz
from conftest import (RUN_FLAGS, by_method, cli_env, copy_results, one_error_line, popen_cli, records, run_cli,
                      run_counts, write_plugin)

SOURCE_ONLY = ("--suite", "smoke", "--tasks", "gmm2d", "--methods", "source-only")


def _source_only(smoke_results: Path, tmp_path: Path) -> tuple[Path, str]:
    """A copy of the smoke results holding the gmm2d source-only run alone (and the stage cache), so
    the reports these tests write cover one run instead of 38 (about 50 s each on a slow CPU)."""
    rid = by_method(smoke_results)["source-only"]["run_id"]
    runs = smoke_results / "runs"
    results = copy_results(smoke_results, tmp_path / "r", skip=lambda p: p.parent == runs and p.name != rid)
    assert [p.name for p in (results / "runs").iterdir()] == [rid]
    return results, rid


# --- 1. arrays are checked like the record ------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncated", "deleted", "flipped"])
def test_damaged_samples_make_the_run_corrupt_rerun_and_reported(smoke_results: Path, tmp_path: Path, cli_main,
                                                                 damage: str) -> None:
    results, rid = _source_only(smoke_results, tmp_path)
    folder = results / "runs" / rid
    good = (folder / "samples.npz").read_bytes()
    assert by_method(smoke_results)["source-only"]["artifacts"]["samples.npz"]
    bad = {"truncated": good[:100], "flipped": good[:-30] + bytes([good[-30] ^ 1]) + good[-29:]}.get(damage)
    if bad is None:
        (folder / "samples.npz").unlink()
    else:
        (folder / "samples.npz").write_bytes(bad)
    reason = "samples.npz is missing" if damage == "deleted" else "samples.npz is damaged"

    code, out, err = cli_main("status", *SOURCE_ONLY, "--results", results)
    assert code == 0 and "total: corrupt 1" in out and reason in out, out + err

    code, out, err = cli_main("report", "--results", results, "--out", tmp_path / "rep")
    assert code == 0 and err == "", err
    missing = (tmp_path / "rep" / "missing.csv").read_text()
    assert rid in missing and reason in missing and "corrupt" in missing

    code, out, err = cli_main("run", *SOURCE_ONLY, "--results", results, *RUN_FLAGS)
    assert code == 0 and run_counts(out) == {"done": 1}, err
    assert (folder / "samples.npz").read_bytes() == good, "the rerun gives the same bytes"
    hist = folder / "history"
    assert len(list(hist.glob("record.corrupt.*.json"))) == 1
    if bad is not None:
        (kept,) = hist.glob("samples.corrupt.*.npz")
        assert kept.read_bytes() == bad, "the damaged file is kept, not deleted"


def test_save_npz_is_byte_stable_and_loadable(tmp_path: Path) -> None:
    import numpy as np

    arrays = {"samples": np.arange(12.0).reshape(6, 2), "labels": np.arange(6)}
    h1, h2 = save_npz(tmp_path / "a.npz", arrays), save_npz(tmp_path / "b.npz", arrays)
    assert h1 == h2 and (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as z:
        assert np.array_equal(z["samples"], arrays["samples"]) and np.array_equal(z["labels"], arrays["labels"])


# --- 6/7. one schema for records ---------------------------------------------------------------------

@pytest.mark.parametrize("edit, reason", [
    (lambda r: r.update(metrics=None), "done record without metrics"),
    (lambda r: r.update(metrics=[1, 2]), "metrics is a list"),
    (lambda r: r["metrics"].update(bad="x"), "metric 'bad' is not a number"),
    (lambda r: r.update(spec="gmm2d"), "spec is not an object"),
    (lambda r: r.update(run_id=7), "run_id is not a string"),
    (lambda r: r.update(artifacts=["samples.npz"]), "artifacts is not an object"),
])
def test_records_of_the_wrong_shape_are_corrupt(smoke_results: Path, tmp_path: Path, cli_main, edit, reason) -> None:
    results, rid = _source_only(smoke_results, tmp_path)
    path = results / "runs" / rid / "record.json"
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))
    state = RunStore(results).state(rid)
    assert state.status == CORRUPT and reason in state.reason
    code, out, err = cli_main("status", *SOURCE_ONLY, "--results", results)
    assert code == 0 and "total: corrupt 1" in out and reason in out
    code, out, err = cli_main("report", "--results", results, "--out", tmp_path / "rep")
    assert code == 0 and err == "" and reason in (tmp_path / "rep" / "missing.csv").read_text()


def test_record_json_that_is_a_directory_is_corrupt(smoke_results: Path, tmp_path: Path, cli_main) -> None:
    results, rid = _source_only(smoke_results, tmp_path)
    path = results / "runs" / rid / "record.json"
    path.unlink()
    path.mkdir()
    code, out, err = cli_main("status", *SOURCE_ONLY, "--results", results)
    assert code == 0 and err == "" and "total: corrupt 1" in out and "cannot read record.json" in out
    code, out, err = cli_main("run", *SOURCE_ONLY, "--results", results, *RUN_FLAGS)
    assert code == 0 and run_counts(out) == {"done": 1}, err
    assert len([p for p in (path.parent / "history").iterdir() if p.is_dir()]) == 1, "the directory was kept"


def test_report_never_leaves_half_a_report(smoke_results: Path, tmp_path: Path, monkeypatch) -> None:
    """An error in the middle of writing (here: in the figures) leaves the previous report as it was."""
    from benchmark.registry import load_registries
    from benchmark.report import build as build_mod

    out = tmp_path / "rep"
    regs = load_registries()
    build_mod.build_report(smoke_results, out, regs=regs)
    (out / "notes.txt").write_text("mine")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def boom(*args, **kwargs):
        raise RuntimeError("disk full while drawing")

    monkeypatch.setattr(build_mod, "render_figures", boom)
    with pytest.raises(RuntimeError):
        build_mod.build_report(smoke_results, out, regs=regs)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["rep"], "no temporary folder is left behind"
    monkeypatch.undo()
    build_mod.build_report(smoke_results, out, regs=regs)
    assert (out / "notes.txt").read_text() == "mine", "files of the user in the report folder are kept"


# --- 2/3. one validator for every Params class -------------------------------------------------------

def _bad_values(cls: type) -> list[tuple[str, typing.Any]]:
    from benchmark.params import _numeric_kind, default_bounds

    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind, _ = _numeric_kind(hints[f.name])
        if kind is None:
            continue
        rule = {k: f.metadata[k] for k in ("ge", "gt", "le", "lt") if k in f.metadata} or default_bounds(f.name, kind)
        if kind is float:
            out += [(f.name, float("nan")), (f.name, float("inf"))]
        if "ge" in rule:
            out.append((f.name, kind(rule["ge"] - 1)))
        if "gt" in rule:
            out.append((f.name, kind(rule["gt"])))
    return out


def test_every_registered_params_class_is_range_checked() -> None:
    """For every method and task, every numeric field with a bad value is refused in one line."""
    from benchmark.registry import load_registries

    regs = load_registries()
    checked = 0
    for reg in (regs.methods, regs.tasks):
        for name in reg.names():
            cls = reg.get(name).Params
            resolve_params(cls, {}, owner=name)  # the defaults pass
            for key, value in _bad_values(cls):
                with pytest.raises(BenchmarkError, match=rf"{name}\.{key}=\S+ is not allowed"):
                    resolve_params(cls, {key: value}, owner=name)
                checked += 1
    assert checked > 100


def test_a_new_params_class_gets_the_rule_and_can_declare_bounds() -> None:
    @dataclasses.dataclass(frozen=True)
    class NewParams:
        my_steps: int = 10
        warmup: int = 0
        step_lr: float = 0.1
        drop_prob: float = 0.5
        temperature: float = dataclasses.field(default=1.0, metadata=bounds(gt=0, le=10))

    assert resolve_params(NewParams, {"warmup": "0"}).warmup == 0
    for key, value, what in [("my_steps", "0", ">= 1"), ("warmup", "-1", ">= 0"), ("step_lr", "0", "> 0"),
                             ("drop_prob", "1.5", "<= 1"), ("temperature", "0", "> 0 and <= 10"),
                             ("temperature", "11", "> 0 and <= 10"), ("temperature", "nan", "finite")]:
        with pytest.raises(BenchmarkError, match=f"new.{key}=.* is not allowed: .*{what}"):
            resolve_params(NewParams, {key: value}, owner="new")
    check_bounds(NewParams, {"temperature": 10.0})


# --- 4/5. umask, log handler -------------------------------------------------------------------------

def test_files_respect_the_umask(tmp_path: Path) -> None:
    results = tmp_path / "r"
    code = ("import os, sys; os.umask(0o027); from benchmark.cli import main; "
            f"sys.exit(main({['run', *SOURCE_ONLY, '--results', str(results), *RUN_FLAGS]!r}))")
    proc = run_cli_python(code)
    assert proc.returncode == 0, proc.stderr
    files = [p for p in results.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    names = {p.name for p in files}
    assert {"record.json", "spec.json", "samples.npz", "payload.pt", "meta.json"} <= names
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
    assert all(m == oct(0o640) for m in modes.values()), modes


def run_cli_python(code: str):
    import subprocess

    from conftest import REPO_ROOT

    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=cli_env(OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=600)


def test_run_log_handler_stops_quietly_when_its_file_fails(tmp_path: Path, capsys) -> None:
    import logging

    from benchmark.runner import RunLogHandler

    handler = RunLogHandler(tmp_path / "log.txt")
    log = logging.getLogger("benchmark.test.loghandler")
    log.addHandler(handler)
    try:
        log.warning("first")

        def fail(_text: str) -> int:
            raise OSError(28, "No space left on device")

        handler.stream.write = fail  # the disk is full from now on
        for k in range(50):
            log.warning("message %d", k)
    finally:
        log.removeHandler(handler)
        handler.close()
    assert "Logging error" not in capsys.readouterr().err
    assert isinstance(handler.error, OSError)
    assert (tmp_path / "log.txt").read_text().count("first") == 1


FSIZE_RUN = '''
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from benchmark.cli import main
sys.exit(main({args!r}))
'''


def test_file_size_limit_mid_run_gives_one_line_and_loses_nothing(smoke_results: Path, tmp_path: Path) -> None:
    """A full disk for the files being written (RLIMIT_FSIZE: a write past 2 kB fails with EFBIG),
    with the run's log.txt already past the limit (a long earlier attempt), so that every log
    line fails: no "--- Logging error ---" dumps (there were two dumps, 40 lines, before),
    one error line, finished records unchanged, and without the limit the same command
    finishes the runs."""
    resource = pytest.importorskip("resource")
    if not hasattr(resource, "RLIMIT_FSIZE"):
        pytest.skip("no RLIMIT_FSIZE on this platform")
    results = copy_results(smoke_results, tmp_path / "r")
    before = {p: p.read_bytes() for p in (results / "runs").glob("*/record.json")}
    args = ["run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "source-only", "--set",
            "*.source_epochs=5", "--results", str(results), *RUN_FLAGS]
    limited = FSIZE_RUN.format(limit=2048, args=args)
    first = run_cli_python(limited)  # an attempt that cannot store its stage or its record
    assert first.returncode == 2 and "cannot write run" in one_error_line(first.stderr), first.stderr
    (log,) = [p for p in (results / "runs").glob("*/log.txt") if not (p.parent / "record.json").exists()]
    with open(log, "a") as fh:
        fh.write("x" * 4096)
    proc = run_cli_python(limited)
    assert "Logging error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2 and "cannot write run" in one_error_line(proc.stderr)
    assert all(p.read_bytes() == data for p, data in before.items()), "a finished record changed"
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert all(r["status"] == DONE for r in records(results).values())
    assert len(records(results)) == len(before) + 1


# --- 6. locks ----------------------------------------------------------------------------------------

def test_status_takes_no_lock_and_shows_a_held_one_as_running(tmp_path: Path, cli_main, monkeypatch) -> None:
    from benchmark.planner import plan, select
    from benchmark.registry import load_registries

    regs = load_registries()
    (spec,) = plan(select(regs.suites.get("smoke")(), regs, ["gmm2d"], ["source-only"]), regs)
    results = tmp_path / "r"
    store = RunStore(results)
    store.write_spec(spec.run_id, spec.to_dict())
    held = FileLock(str(store.folder(spec.run_id) / ".lock"))
    held.acquire()
    try:
        def no_locking(self, *a, **k):
            raise AssertionError("a read-only command took a lock")

        with monkeypatch.context() as m:
            m.setattr(FileLock, "acquire", no_locking)
            code, out, err = cli_main("status", *SOURCE_ONLY, "--results", results)
        assert code == 0 and "total: running 1" in out, out + err

        code, out, err = cli_main("run", *SOURCE_ONLY, "--results", results, *RUN_FLAGS)
        assert code == 1 and run_counts(out) == {"locked": 1}
        assert "another process holds their lock" in err and "--wait" in err
    finally:
        held.release()
    assert not (results / "runs" / spec.run_id / "record.json").exists()


BARRIER = '''
"""barrier-a / barrier-b: source-only, but fit waits until the other one is inside its fit too."""

import time
from dataclasses import dataclass
from pathlib import Path

from benchmark.registry import register_method
from benchmark.denoiser_methods import DenoiserMethod, DenoiserParams, source_denoiser


@dataclass(frozen=True)
class BarrierParams(DenoiserParams):
    folder: str = ""


class Barrier(DenoiserMethod):
    Params = BarrierParams
    me, other = "", ""

    def fit(self, ctx):
        folder = Path(self.params.folder)
        (folder / self.me).write_text("inside")  # this process holds the run's lock here
        deadline = time.monotonic() + 120
        while not (folder / self.other).exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the other process never got inside its run")
            time.sleep(0.05)
        ctx.diagnostics["overlapped"] = 1.0
        self._bind(ctx, source_denoiser(ctx, self.params))


@register_method("barrier-a", "waits for barrier-b (concurrency test)")
class BarrierA(Barrier):
    me, other = "a", "b"


@register_method("barrier-b", "waits for barrier-a (concurrency test)")
class BarrierB(Barrier):
    me, other = "b", "a"
'''


def test_two_concurrent_runs_overlap_and_execute_each_run_once(tmp_path: Path) -> None:
    """Two `run` processes on one results folder, proven to overlap: each run's fit waits until
    the other process is inside its own run (both hold a run lock at that moment).  Each run
    executes once, the shared source stage is built once, and with --wait the process that
    meets the other's lock waits and then skips the finished run: both exit 0."""
    plugins = write_plugin(tmp_path / "plugins", "barrier", BARRIER).parent
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    results = tmp_path / "r"
    common = ["--suite", "smoke", "--tasks", "gmm2d", "--plugins", plugins, "--set", f"*.folder={barrier}",
              "--results", results, "--wait", *RUN_FLAGS]
    procs = [popen_cli("run", "--methods", "barrier-a", "barrier-b", *common),
             popen_cli("run", "--methods", "barrier-b", "barrier-a", *common)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, out + err
    counts = [run_counts(out) for out, _ in outs]
    assert counts == [{"done": 1, "skipped": 1}] * 2
    recs = records(results)
    assert len(recs) == 2
    for rid, rec in recs.items():
        assert rec["status"] == "done" and rec["metrics"]["overlapped"] == 1.0
        assert (results / "runs" / rid / "log.txt").read_text().count(" INFO start ") == 1, rid
        assert not (results / "runs" / rid / "history").exists()
    built = [s for r in recs.values() for s in r["stages"]["built"]]
    assert sum(s.startswith("source/") for s in built) == 1


# --- 10. the smaller CLI defects ---------------------------------------------------------------------

def test_argparse_errors_are_one_line_with_a_hint() -> None:
    for args in (["run", "--jobs", "x"], ["run", "--bogus"], ["nosuch"]):
        proc = run_cli(*args)
        assert proc.returncode == 2
        line = one_error_line(proc.stderr)
        assert "--help" in line


def test_list_suggests_the_kind(cli_main) -> None:
    code, out, err = cli_main("list", "metods")
    assert code == 2 and "did you mean methods?" in one_error_line(err)


def test_plugins_file_is_named_a_file(cli_main, tmp_path: Path) -> None:
    path = write_plugin(tmp_path, "mine", "")
    code, out, err = cli_main("list", "methods", "--plugins", path)
    assert code == 2 and f"--plugins {path} is a file, not a folder" in one_error_line(err)
    assert f"(--plugins {tmp_path})" in err


def test_verify_refuses_a_path_with_the_right_command(smoke_results: Path, cli_main) -> None:
    rid = by_method(smoke_results)["source-only"]["run_id"]
    code, out, err = cli_main("verify", smoke_results / "runs" / rid)
    line = one_error_line(err)
    assert code == 2 and "is a path, not a run id" in line and f"verify {rid} --results {smoke_results}" in line
    assert "--force" not in line


def test_device_cuda_without_gpu_creates_nothing(cli_main, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    code, out, err = cli_main("run", *SOURCE_ONLY, "--device", "cuda", "--results", tmp_path / "r", *RUN_FLAGS)
    assert code == 2 and "--device cuda" in one_error_line(err)
    assert not (tmp_path / "r").exists()


def test_report_out_onto_a_file(smoke_results: Path, cli_main, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    code, out, err = cli_main("report", "--results", smoke_results, "--out", tmp_path / "f")
    assert code == 2 and "is a file, not a folder" in one_error_line(err)
    assert (tmp_path / "f").read_text() == "x"


def test_run_results_dir_writes_its_report_beside_its_records(smoke_results: Path, tmp_path: Path, cli_main) -> None:
    results = copy_results(smoke_results, tmp_path / "exp1")
    code, out, err = cli_main("run", *SOURCE_ONLY, "--results", results, "--threads", "1", "--quiet")
    assert code == 0, err
    assert (results / "reports" / "records.csv").is_file()
    assert f"report written to {results / 'reports'}/" in out


def test_set_takes_several_pairs(cli_main, tmp_path: Path) -> None:
    code, out, err = cli_main("run", *SOURCE_ONLY, "--set", "source-only.width=16", "source-only.depth=1",
                              "--set", "source-only.lr=0.01", "--dry-run")
    assert code == 0, err
    from benchmark.params import parse_set_options

    assert parse_set_options(["a.b=1", "c.d=2"]) == {"a": {"b": "1"}, "c": {"d": "2"}}
    code2, out2, _ = cli_main("run", *SOURCE_ONLY, "--dry-run")
    assert out.split()[-1] != out2.split()[-1], "the overrides changed the run id"
