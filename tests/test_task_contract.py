"""The contract every task keeps (in the style of benchopt's test of every plugin), as
``python -m benchmark check`` runs it (:func:`benchmark.check.check_task`).

It runs over every registered task (the built-ins, the real-data task on the tiny files of
tests/test_ecg_real.py, and the "Add a task" example of docs/add_a_task.md loaded from a
temporary plugin folder), built under the task's small ``contract_params``:

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

from pathlib import Path

import pytest
import torch
from test_add_a_task import task_example

from benchmark.api import Task, TaskData
from benchmark.check import ContractError, check_task
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


@pytest.mark.parametrize("name", [*BUILTIN_TASKS, PLUGIN_TASK])
def test_task_contract(name: str, request, monkeypatch) -> None:
    check_task(name, _task(request, monkeypatch, name))


def test_the_contract_catches_a_task_that_leaks_test_samples(monkeypatch) -> None:
    """A task whose source pool holds its test fold breaks the contract (the check can fail)."""
    task_cls = load_registries().tasks.get("gmm2d")

    class Leaky(task_cls):
        def build(self) -> TaskData:
            data = super().build()
            data.source_x = torch.cat([data.source_x, data.test_x[:3]])
            return data

    with pytest.raises(ContractError, match="test samples appear in source_x"):
        check_task("gmm2d", Leaky)
