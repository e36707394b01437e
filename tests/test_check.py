"""The train-only view and ``python -m benchmark check``: a method's fit and sample cannot reach a
held-out array, every built-in keeps its contract, and a broken plugin is named in one line."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from test_add_a_task import task_example

from benchmark.api import HELD_OUT_FIELDS, ORACLE_POOL, FitContext, TrainView
from benchmark.check import held_out_storages, reachable_storages, run_checks
from benchmark.params import resolve_params
from benchmark.registry import load_registries


def _gmm2d_data():
    task_cls = load_registries().tasks.get("gmm2d")
    params = resolve_params(task_cls.Params, {"n_target": 10, "n_source": 500, "n_pool": 500, "n_test": 300})
    return task_cls(params, 0, 0).build()


def test_the_train_view_has_no_held_out_field() -> None:
    names = {f.name for f in dataclasses.fields(TrainView)}
    assert not names & set(HELD_OUT_FIELDS)
    data = _gmm2d_data()
    plain = data.train_view(frozenset())
    assert plain.source_y is None and plain.target_y is None  # labels only where declared
    assert plain.oracle_x is None and plain.closed_form is None  # oracle information only for oracle rows
    full = data.train_view(frozenset({"labels", "closed_form", ORACLE_POOL}))
    assert torch.equal(full.target_y, data.target_y) and torch.equal(full.oracle_x, data.oracle_x)
    assert full.closed_form is data.closed_form


def test_a_held_out_array_is_found_wherever_a_method_keeps_it() -> None:
    """The reachability search sees through attributes, containers, closures and views, so
    the contract test below can fail: the fit context of earlier versions held TaskData."""
    data = _gmm2d_data()
    leaked = held_out_storages(data)
    clean = FitContext(spec=None, data=data.train_view(frozenset()), cache=None, device=torch.device("cpu"),
                       seed=lambda *a: 0)
    assert not leaked.keys() & reachable_storages([clean])
    old_style = dataclasses.replace(clean, data=data)  # what fit() received before the train-only view
    assert {leaked[p] for p in reachable_storages([old_style]) if p in leaked} == set(HELD_OUT_FIELDS) - {
        k for k in HELD_OUT_FIELDS if getattr(data, k) is None}
    view = data.test_x[:5]
    closure = (lambda: view.sum())  # noqa: E731
    assert leaked.keys() & reachable_storages([{"f": [closure]}])


@pytest.mark.slow
def test_every_builtin_method_and_task_keeps_its_contract() -> None:
    """What ``python -m benchmark check`` runs in CI: fit and sample of every built-in method on
    its smoke cell (finite, right shape, requires = what it reads, held-out data unreachable)."""
    results = run_checks(load_registries(), plugins_only=False)
    assert {r.name for r in results if r.kind == "method"} == set(load_registries().methods.names())
    problems = [r.line() for r in results if r.problem is not None]
    assert not problems, "\n".join(problems)


GOOD_METHOD = '''
import torch
from benchmark.api import Method
from benchmark.registry import register_method


@register_method("target-bootstrap", "resamples the n target samples (a sanity row)")
class TargetBootstrap(Method):
    def fit(self, ctx):
        self.x = ctx.data.target_x

    def sample(self, n, labels, generator):
        return self.x[torch.randint(len(self.x), (n,), generator=generator)]
'''

BAD_METHOD = '''
import torch
from benchmark.api import Method
from benchmark.registry import register_method


@register_method("label-peeker", "reads target labels without declaring them")
class LabelPeeker(Method):
    def fit(self, ctx):
        self.y = ctx.data.target_y
        self.x = ctx.data.target_x

    def sample(self, n, labels, generator):
        return self.x[:n // 2]
'''


@pytest.mark.slow
def test_check_passes_a_good_plugin_and_names_what_is_wrong_with_a_broken_one(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "ring.py").write_text(task_example())
    (plugins / "bootstrap.py").write_text(textwrap.dedent(GOOD_METHOD))
    (plugins / "peeker.py").write_text(textwrap.dedent(BAD_METHOD))
    (plugins / "typo.py").write_text("import torch\ndef broken(:\n")
    proc = run_cli("check", "--plugins", plugins)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "task ring2d: ok" in lines and "method target-bootstrap: ok" in lines
    peeker = [ln for ln in lines if ln.startswith("method label-peeker:")]
    assert len(peeker) == 1 and "FAILED: sample(64) returned shape (10, 2), expected (64, 2)" in peeker[0], lines
    typo = [ln for ln in lines if ln.startswith("plugin typo.py:")]
    assert len(typo) == 1 and "failed to import: SyntaxError" in typo[0]
    assert not any(ln.startswith("method finetune") for ln in lines)  # plugins only
    assert lines[-1] == "2 ok, 2 failed, 0 skipped"

    (plugins / "peeker.py").write_text(textwrap.dedent(BAD_METHOD).replace("self.x[:n // 2]", "self.x[:1].expand(n, -1)"))
    (plugins / "typo.py").unlink()
    proc = run_cli("check", "label-peeker", "--plugins", plugins)
    assert proc.stdout.splitlines()[0] == (
        "method label-peeker: FAILED: reads target_y without declaring requires {'labels'}"), proc.stdout
