"""Training checkpoints: a resumed training equals an uninterrupted one, bit for bit.

Unit tests drive :func:`benchmark.diffusion.training.optimise` directly (a tiny net with a
BatchNorm buffer, EMA and a generator-drawn loss); the end-to-end test SIGKILLs
``python -m benchmark run`` in the middle of the source model's training and runs it again.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark.diffusion.checkpoint import CheckpointSpec
from benchmark.diffusion.training import optimise
from conftest import RUN_FLAGS, popen_cli, records


class Interrupt(Exception):
    """Stands in for a kill in the in-process tests."""


def _train(steps: int, spec: CheckpointSpec | None, stop_at: int | None = None, lr: float = 1e-2,
           log: logging.Logger | None = None) -> tuple[nn.Module, list[float]]:
    """A BatchNorm MLP regressing y = sin(x) on mini-batches drawn from a generator."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.SiLU(), nn.Linear(16, 1))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(256, 2, generator=torch.Generator().manual_seed(2))
    y = torch.sin(x.sum(1, keepdim=True))

    def loss(step: int) -> torch.Tensor:
        if stop_at is not None and step == stop_at:
            raise Interrupt
        idx = torch.randint(len(x), (32,), generator=gen)
        noise = 0.1 * torch.randn(32, 1)  # torch's global RNG, restored from the checkpoint too
        return (net(x[idx]) - y[idx] - noise).pow(2).mean()

    trace = optimise(net.parameters(), loss, steps, lr, ema_model=net, ema_decay=0.9, checkpoint=spec,
                     generators=(gen,), modules=(net,), log=log)
    return net, trace


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def deterministic():
    """One torch thread (as runs use) and deterministic algorithms, restored afterwards."""
    before = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.set_num_threads(before[1])


@pytest.mark.slow
def test_resume_after_an_interruption_is_bit_identical(tmp_path: Path, deterministic, caplog) -> None:
    reference, ref_trace = _train(40, None)
    spec = CheckpointSpec(tmp_path / "ckpt", every=6, keep=2)
    with pytest.raises(Interrupt):
        _train(40, spec, stop_at=23)
    assert sorted(p.name[:13] for p in spec.folder.glob("step-*.pt")) == ["step-00000012", "step-00000018"]
    with caplog.at_level(logging.INFO):
        resumed, trace = _train(40, spec)
    assert "resumed from" in caplog.text and "(step 18 of 40)" in caplog.text
    assert _same(resumed, reference)  # weights (EMA-averaged) and BatchNorm running statistics
    assert trace == ref_trace
    # the final state is kept (a kill after training but before the result is stored loses nothing)
    assert sorted(p.name[:13] for p in spec.folder.glob("step-*.pt")) == ["step-00000036", "step-00000040"]


@pytest.mark.slow
def test_damaged_or_foreign_checkpoints_are_skipped(tmp_path: Path, deterministic, caplog) -> None:
    reference, _ = _train(30, None)
    spec = CheckpointSpec(tmp_path / "ckpt", every=5, keep=3)
    with pytest.raises(Interrupt):
        _train(30, spec, stop_at=17)
    newest = sorted(spec.folder.glob("step-*.pt"))[-1]
    assert newest.name.startswith("step-00000015-")
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    (spec.folder / ".step-00000020-x.pt.abc.tmp").write_bytes(b"half a file")  # an interrupted save
    with caplog.at_level(logging.INFO):
        resumed, _ = _train(30, spec)
    assert "do not match the hash" in caplog.text and "(step 10 of 30)" in caplog.text
    assert _same(resumed, reference)
    assert not list(spec.folder.glob(".step-*.tmp"))
    # a checkpoint of another training (here: another learning rate) is never loaded
    caplog.clear()
    with caplog.at_level(logging.INFO):
        _train(30, spec, lr=0.5)
    assert "belongs to a different training" in caplog.text and "resumed" not in caplog.text


def test_checkpoint_spec_validation_and_schedule() -> None:
    with pytest.raises(ValueError):
        CheckpointSpec(Path("x"), every=-1)
    with pytest.raises(ValueError):
        CheckpointSpec(Path("x"), keep=0)
    spec = CheckpointSpec(Path("x"), every=4)
    assert [d for d in range(1, 11) if spec.due(d, 10)] == [4, 8, 10]
    assert [d for d in range(1, 4) if spec.due(d, 3)] == []  # shorter than one interval: no files at all
    assert not CheckpointSpec(Path("x"), every=0).due(5, 10)


def _wait_for(predicate, proc, timeout: float = 300.0) -> None:
    start = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process ended before the condition held (rc {proc.returncode}):\n{out}\n{err}")
        if time.monotonic() - start > timeout:
            proc.kill()
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_mid_training_then_run_again_resumes_and_matches(tmp_path: Path, cli_main) -> None:
    """400 source steps with a checkpoint every 5: kill -9 after two checkpoints, run again;
    the run resumes from the checkpoint and its metrics (and the stored source model) equal
    those of an uninterrupted run without checkpoints."""
    args = ["run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "source-only", "--set", "*.source_epochs=100",
            "--deterministic", *RUN_FLAGS]
    killed = tmp_path / "killed"
    proc = popen_cli(*args, "--results", killed, "--checkpoint-every", "5")
    ckpts = lambda: sorted(killed.glob("artifacts/source/*.ckpt/step-*.pt"))
    _wait_for(lambda: len(ckpts()) >= 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not records(killed), "the run was killed before it finished"
    step = int(ckpts()[-1].name.split("-")[1])
    assert 0 < step < 400

    code, out, err = cli_main(*args, "--results", killed, "--checkpoint-every", "5")
    assert code == 0, err
    (rid, rec), = records(killed).items()
    assert rec["status"] == "done"
    log = (killed / "runs" / rid / "log.txt").read_text()
    assert "source resumed from" in log and f"(step {step} of 400)" in log
    assert not list(killed.glob("artifacts/source/*.ckpt")), "checkpoints are removed once the stage is stored"

    plain = tmp_path / "plain"
    code, _, err = cli_main(*args, "--results", plain, "--checkpoint-every", "0")
    assert code == 0, err
    assert records(plain)[rid]["metrics"] == rec["metrics"]
    meta = [json.loads(next(d.glob("artifacts/source/*/meta.json")).read_text())["sha256"] for d in (killed, plain)]
    assert meta[0] == meta[1], "the resumed source model is bit-identical to the uninterrupted one"


@pytest.mark.slow
def test_run_local_training_checkpoints_live_in_the_run_folder(tmp_path: Path, cli_main, monkeypatch) -> None:
    """LoRA trains inside its run: its checkpoints go to ``<run>/checkpoints/lora`` (seen while
    it trains), are removed with the done record, and do not change a bit of the result."""
    from benchmark.diffusion import checkpoint as ckpt

    seen: list[Path] = []
    save = ckpt.save
    monkeypatch.setattr(ckpt, "save", lambda spec, state: seen.append(save(spec, state)) or seen[-1])
    args = ["run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "lora", "--set", "lora.finetune_steps=30",
            "--deterministic", *RUN_FLAGS]
    code, _, err = cli_main(*args, "--results", tmp_path / "a", "--checkpoint-every", "10")
    assert code == 0, err
    (rid, rec), = records(tmp_path / "a").items()
    run_dir = tmp_path / "a" / "runs" / rid
    local = [p for p in seen if run_dir in p.parents]
    assert [p.relative_to(run_dir).parts[:2] for p in local] == [("checkpoints", "lora")] * 3  # steps 10, 20, 30
    assert {p.parent.parent.name for p in seen if run_dir not in p.parents} == {"source"}  # the cached stage's
    assert not (run_dir / "checkpoints").exists()
    code, _, err = cli_main(*args, "--results", tmp_path / "b", "--checkpoint-every", "0")
    assert code == 0, err
    assert records(tmp_path / "b")[rid]["metrics"] == rec["metrics"]
