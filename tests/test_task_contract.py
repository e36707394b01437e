"""The contract every task keeps (in the style of benchopt's test of every plugin).

It runs over every registered task (the built-ins, and the "Add a task" example of
docs/add_a_task.md loaded from a temporary plugin folder), built under the task's small
``contract_params``:

- ``build()`` is deterministic (same arrays, same keys);
- the target subset is the engine's nested subset of the pool (benchmark.design.Design):
  it depends only on (task, n_target, trial), the n = 2 set is inside the n = 5 set, and
  parameters the data do not depend on (n_eval) leave it unchanged;
- methods never see the test fold: no test sample appears in the source pool, the target
  pool or subset, the held-out source or any other array the task hands out;
- keys change when the data change: over many variants (n_target, trial, suite seed, and
  every parameter perturbed in turn), equal keys always mean equal data.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from test_add_a_task import task_example

from benchmark.api import Task, TaskData
from benchmark.design import Design
from benchmark.errors import BenchmarkError
from benchmark.params import resolve_params
from benchmark.registry import load_registries

BUILTIN_TASKS = load_registries().tasks.names()
PLUGIN_TASK = "ring2d"  # the docs/add_a_task.md example


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plugins")
    (folder / "ring.py").write_text(task_example())
    return folder


@pytest.fixture(scope="module")
def ecg_dir(tmp_path_factory) -> Path:
    """The tiny PTB-XL / ICBEB folders of tests/test_ecg_real.py, prepared."""
    pytest.importorskip("wfdb")
    from test_ecg_real import write_icbeb, write_ptbxl

    from benchmark.ecg.prepare import prepare

    root = tmp_path_factory.mktemp("ecgdata")
    write_ptbxl(root / "ptbxl")
    write_icbeb(root / "icbeb2018")
    prepare(root, progress=False, echo=lambda line: None)
    return root


def _task(request, monkeypatch, name: str) -> type[Task]:
    if name == "ptbxl-icbeb":  # real data: the test's fixture folder
        from benchmark.ecg.prepare import ENV_DIR

        monkeypatch.setenv(ENV_DIR, str(request.getfixturevalue("ecg_dir")))
    if name == PLUGIN_TASK:
        regs = load_registries([request.getfixturevalue("plugin_dir")])
        assert regs.tasks.entry(name).origin.endswith("ring.py")
        return regs.tasks.get(name)
    return load_registries().tasks.get(name)


def _builder(task_cls: type[Task]) -> Callable[..., TaskData]:
    def build(n_target: int, trial: int = 0, suite_seed: int = 0, **changes: Any) -> TaskData:
        params = resolve_params(task_cls.Params, {**task_cls.contract_params, "n_target": n_target, **changes})
        return task_cls(params, suite_seed, trial).build()

    return build


def _tensors(data: TaskData) -> dict[str, torch.Tensor]:
    out = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    out.update({f"extras.{k}": v for k, v in data.extras.items()})
    return {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}


def _digest(*tensors: torch.Tensor | None) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(b"none" if t is None else t.detach().cpu().contiguous().numpy().tobytes() + str(t.shape).encode())
    return h.hexdigest()


def _rows(t: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in t.detach().cpu().contiguous().flatten(1)}


def _perturbed(params: Any) -> list[dict[str, Any]]:
    """One change per parameter (n_target aside): ints + 1, floats x 1.5, bools flipped."""
    out = []
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        if field.name == "n_target" or isinstance(value, str):
            continue
        if isinstance(value, bool):
            out.append({field.name: not value})
        elif isinstance(value, int):
            out.append({field.name: value + 1})
        elif isinstance(value, float):
            out.append({field.name: value * 1.5})
    return out


@pytest.mark.parametrize("name", [*BUILTIN_TASKS, PLUGIN_TASK])
def test_task_contract(name: str, request, monkeypatch) -> None:
    task_cls = _task(request, monkeypatch, name)
    build = _builder(task_cls)
    small, big = build(2), build(5)

    # build() is deterministic
    again = build(5)
    assert big.source_key == again.source_key and big.target_key == again.target_key
    for key, t in _tensors(big).items():
        assert torch.equal(t, _tensors(again)[key]), f"{name}: build() is not deterministic ({key})"

    # the subset is the engine's nested subset of the pool, depending on (task, n_target, trial) only
    for data, n in ((small, 2), (big, 5)):
        idx = Design(name, 0, 0).subset(len(data.oracle_x), n)
        assert torch.equal(data.target_x, data.oracle_x[idx]), f"{name}: draw the subset with Design.subset"
        if data.target_y is not None:
            assert torch.equal(data.target_y, data.oracle_y[idx])
    assert torch.equal(big.target_x[:2], small.target_x)  # nested
    assert torch.equal(build(5, trial=1).target_x, build(5, trial=1).target_x)
    assert not torch.equal(build(5, trial=1).target_x, big.target_x)
    if "n_eval" in {f.name for f in dataclasses.fields(task_cls.Params)}:
        other = build(5, n_eval=task_cls.contract_params.get("n_eval", resolve_params(task_cls.Params, {}).n_eval) + 1)
        assert torch.equal(other.target_x, big.target_x) and other.target_key == big.target_key

    # methods never see the test fold
    test_rows = _rows(big.test_x)
    for key, t in _tensors(big).items():
        if t.dim() >= 2 and t.is_floating_point() and not key.startswith(("test_", "extras.test")):
            assert not test_rows & _rows(t), f"{name}: test samples appear in {key}"

    # keys change when the data change: equal keys always mean equal data
    variants = [big, small, build(5, trial=1), build(5, suite_seed=1)]
    for change in _perturbed(big_params := resolve_params(task_cls.Params, {**task_cls.contract_params, "n_target": 5})):
        try:
            variants.append(build(5, **change))
        except (ValueError, BenchmarkError):
            continue  # not a valid value for this parameter
    assert big_params.n_target == 5 and len(variants) > 4
    seen: dict[tuple[str, str], str] = {}
    for data in variants:
        for kind, key, digest in (("source", data.source_key, _digest(data.source_x, data.source_y)),
                                  ("target", data.target_key, _digest(data.target_x, data.target_y))):
            assert seen.setdefault((kind, key), digest) == digest, f"{name}: one {kind} key names two data sets"
    assert len({d.target_key for d in variants[:4]}) == 4  # n_target, trial and suite seed change the subset
