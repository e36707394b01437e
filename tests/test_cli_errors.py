"""Bad input: one `error:` line on stderr, exit status 2, and nothing finished is touched.

Every case runs against a copy of the smoke results; every file in it (records, specs,
samples, cached stages) must be byte-identical afterwards.  A truncated record.json is shown
as corrupt by `status`, rerun by `run`, and kept in history/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.store import RunStore
from conftest import RUN_FLAGS, by_method, copy_results, one_error_line, records, run_cli, run_counts, snapshot


@pytest.fixture
def guarded(smoke_results: Path, tmp_path: Path):
    """A copy of the smoke results; the test asserts it is unchanged at the end."""
    results = copy_results(smoke_results, tmp_path / "r")
    before = snapshot(results)
    yield results
    assert snapshot(results) == before


CASES = [
    (["--methods", "lorra"], "unknown method 'lorra': did you mean lora"),
    (["--tasks", "gmm-2d"], "unknown task 'gmm-2d': did you mean gmm2d"),
    (["--n-target", "0"], "--n-target 0 is not allowed"),
    (["--n-target", "-5"], "--n-target -5 is not allowed"),
    (["--n-target", "5000"], "n_target=5000 must be between 1 and n_pool=1000"),
    (["--set", "lora.rnak=8"], "unknown hyper-parameter lora.rnak; known: "),
    (["--set", "lora.rank=eight"], "lora.rank must be an integer, got 'eight'"),
    (["--set", "lora.rank=2.5"], "lora.rank must be an integer, got '2.5'"),
    (["--set", "lora.sampler=heun"], "lora.sampler='heun' is not allowed; choose one of dpm2, dpm1, euler"),
    (["--set", "lorra.rank=8"], "unknown method 'lorra'"),
    (["--set", "lora.rank"], "--set 'lora.rank' is malformed"),
    (["--set", "*.no_such_key=1"], "--set *.no_such_key matches no hyper-parameter"),
    (["--set", "scratch.batch=0"], "scratch.batch=0 is not allowed: it must be an integer >= 1"),
    (["--set", "*.sample_steps=0"], "sample_steps=0 is not allowed: it must be an integer >= 1"),
    (["--set", "finetune.lr=-1e-3"], "finetune.lr=-0.001 is not allowed: it must be a number > 0"),
    # issue 12 §2.2: every numeric hyper-parameter is range-checked at plan time
    (["--set", "scratch.steps=-5"], "scratch.steps=-5 is not allowed: it must be an integer >= 1"),
    (["--set", "finetune.finetune_steps=0"], "finetune.finetune_steps=0 is not allowed"),
    (["--set", "tgdp.guid_steps=-1"], "tgdp.guid_steps=-1 is not allowed"),
    (["--set", "tgdp.clf_steps=0"], "tgdp.clf_steps=0 is not allowed"),
    (["--set", "scratch.scratch_lr=-0.1"], "scratch.scratch_lr=-0.1 is not allowed: it must be a number > 0"),
    (["--set", "finetune.finetune_lr=-1"], "finetune.finetune_lr=-1.0 is not allowed"),
    (["--set", "tgdp.eta_cycle=-1"], "tgdp.eta_cycle=-1.0 is not allowed: it must be a number >= 0"),
    (["--set", "scratch.ema=1"], "scratch.ema=1.0 is not allowed: it must be a number >= 0 and < 1"),
    # issue 12 §2.3: non-finite values end in one line, not a JSON traceback
    (["--set", "scratch.scratch_lr=inf"], "scratch.scratch_lr=inf is not allowed: it must be a finite number"),
    (["--set", "domain-guidance.w=nan"], "domain-guidance.w=nan is not allowed: it must be a finite number"),
    (["--set", "domain-guidance.w=1e999"], "domain-guidance.w=inf is not allowed: it must be a finite number"),
    (["--set", "scratch.steps=inf"], "scratch.steps must be an integer, got 'inf'"),
    # issue 12 §2.10
    (["--tasks", "ecg-synth", "--methods", "tgdp-oracle-ratio"], "method tgdp-oracle-ratio needs "),
]


@pytest.mark.parametrize("extra,message", CASES, ids=[" ".join(c[0]) for c in CASES])
@pytest.mark.slow
def test_bad_run_input(guarded: Path, cli_main, extra: list[str], message: str) -> None:
    code, out, err = cli_main("run", "--suite", "smoke", "--results", guarded, *extra, *RUN_FLAGS)
    assert code == 2
    assert message in one_error_line(err)
    assert out == ""


@pytest.mark.parametrize("value", ["0", "-3"])
def test_threads_must_be_positive(guarded: Path, cli_main, value: str) -> None:
    code, out, err = cli_main("run", "--suite", "smoke", "--results", guarded, "--threads", value, "--quiet")
    assert code == 2 and out == ""
    assert f"--threads {value} is not allowed" in one_error_line(err)


@pytest.mark.parametrize("command", [["run", "--dry-run"], ["status"]])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999"])
def test_non_finite_values_are_one_line_from_every_command(cli_main, tmp_path: Path, command, value) -> None:
    code, out, err = cli_main(*command, "--suite", "smoke", "--tasks", "gmm2d", "--methods", "scratch", "--set",
                              f"scratch.scratch_lr={value}", "--results", tmp_path / "r")
    assert code == 2 and out == ""
    assert "must be a finite number" in one_error_line(err)


@pytest.mark.slow
def test_bad_input_through_python_m_benchmark(guarded: Path) -> None:
    """The same through the real entry point: exit status 2 and one line."""
    proc = run_cli("run", "--suite", "smoke", "--methods", "lorra", "--results", guarded, *RUN_FLAGS)
    assert proc.returncode == 2
    line = one_error_line(proc.stderr)
    assert line.startswith("error: unknown method 'lorra': did you mean lora?")
    assert proc.stdout == ""


@pytest.mark.slow
def test_status_with_bad_input(guarded: Path, cli_main) -> None:
    code, _, err = cli_main("status", "--suite", "smok", "--results", guarded)
    assert code == 2 and "unknown suite 'smok': did you mean smoke?" in one_error_line(err)


@pytest.mark.parametrize("where", ["parent_is_file", "is_file"])
def test_unwritable_results_folder(tmp_path: Path, cli_main, where: str) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("keep me")
    results = blocker / "results" if where == "parent_is_file" else blocker
    code, out, err = cli_main("run", "--suite", "smoke", "--methods", "source-only", "--results", results, *RUN_FLAGS)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert f"results folder {results} is not writable" in line and "--results DIR" in line
    assert blocker.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


@pytest.mark.slow
def test_truncated_record_is_shown_rerun_and_kept(smoke_results: Path, tmp_path: Path, cli_main) -> None:
    results = copy_results(smoke_results, tmp_path / "r")
    rid = by_method(smoke_results)["source-only"]["run_id"]
    path = results / "runs" / rid / "record.json"
    truncated = path.read_bytes()[:150]
    path.write_bytes(truncated)
    others = {p: p.read_bytes() for p in (results / "runs").glob("*/record.json") if p != path}

    code, out, _ = cli_main("status", "--suite", "smoke", "--results", results)
    assert code == 0
    (line,) = [ln for ln in out.splitlines() if ln.startswith("corrupt:")]
    assert rid in line and "source-only" in line and "corrupt record.json" in line
    assert f"corrupt 1, done {len(others)}" in out

    code, out, err = cli_main("run", "--suite", "smoke", "--results", results, *RUN_FLAGS)
    assert code == 0, err
    assert run_counts(out) == {"done": 1, "skipped": len(others)}
    assert records(results)[rid]["status"] == "done"
    assert records(results)[rid]["metrics"] == by_method(smoke_results)["source-only"]["metrics"]
    (kept,) = (results / "runs" / rid / "history").glob("record.corrupt.*.json")
    assert kept.read_bytes() == truncated
    assert all(p.read_bytes() == data for p, data in others.items())


@pytest.mark.parametrize("content", ["", "[]", '{"status": "done"}', '{"status": "weird", "metrics": {}}'])
@pytest.mark.slow
def test_other_damaged_records_are_corrupt_not_done(smoke_results: Path, tmp_path: Path, cli_main,
                                                    content: str) -> None:
    results = copy_results(smoke_results, tmp_path / "r",
                           skip=lambda p: p.parent.parent.name == "runs" and p.name == "record.json")
    rid = by_method(smoke_results)["lora"]["run_id"]
    (results / "runs" / rid / "record.json").write_text(content)
    code, out, _ = cli_main("status", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "lora", "--results", results)
    assert code == 0 and f"corrupt: {rid}" in out and "total: corrupt 1" in out
    assert RunStore(results).done_records() == []
