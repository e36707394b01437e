"""Equal budgets on the n targets (DESIGN.md §8): every adaptation stage draws its target batches
with replacement at one batch size, and every record carries its cost.

The draws are observed, not taken from the cost block: ``torch.randint`` and ``torch.randperm``
are wrapped while each method fits on the smoke gmm2d train view, and every index draw from
range(n_target) is logged.  A stage that drew another batch size, or capped its batch at n
(``randperm``, :func:`benchmark.diffusion.training.batch_index`), fails the test; so does a cost
block whose target draws are not the draws made."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import torch

from benchmark import suites
from benchmark.api import FitContext
from benchmark.artifacts import ArtifactCache
from benchmark.params import resolve_params
from benchmark.planner import plan
from benchmark.registry import load_registries
from benchmark.seeding import derive_seed
from conftest import RUN_FLAGS, by_method

REGS = load_registries()
N_TARGET = 10  # the smoke gmm2d setting; the source and oracle pools hold 1000, so no draw is mistaken
BATCH_FIELDS = ("target_batch", "clf_batch", "tclf_batch", "guid_batch")


def smoke_gmm_specs():
    specs = [s for s in plan(REGS.suites.get("smoke")(), REGS) if s.task == "gmm2d"]
    assert {s.task_params["n_target"] for s in specs} == {N_TARGET}
    return specs


def fit_logging_target_draws(spec, cache_root: Path, monkeypatch: pytest.MonkeyPatch):
    """Fit ``spec``'s method on its train view with a fresh cache; returns (ctx, the sizes of every
    index draw from range(n_target), whether a capped draw (randperm(n_target)) happened)."""
    task_cls, method_cls = REGS.tasks.get(spec.task), REGS.methods.get(spec.method)
    data = task_cls(resolve_params(task_cls.Params, spec.task_params), spec.suite_seed, spec.trial).build()
    assert len(data.target_x) == N_TARGET and len(data.source_x) != N_TARGET
    ctx = FitContext(spec=spec, data=data.train_view(method_cls.requires), cache=ArtifactCache(cache_root),
                     device=torch.device("cpu"), seed=lambda *a: derive_seed(spec.suite_seed, *map(str, a)),
                     log=logging.getLogger("test"))
    sizes: list[int] = []
    capped: list[int] = []
    randint, randperm = torch.randint, torch.randperm

    def logged_randint(*args, **kwargs):
        out = randint(*args, **kwargs)
        low_high = [a for a in args if isinstance(a, int)]
        if low_high in ([N_TARGET], [0, N_TARGET]):
            sizes.append(out.numel())
        return out

    def logged_randperm(n, *args, **kwargs):
        if n == N_TARGET:
            capped.append(n)
        return randperm(n, *args, **kwargs)

    monkeypatch.setattr(torch, "randint", logged_randint)
    monkeypatch.setattr(torch, "randperm", logged_randperm)
    try:
        method_cls(resolve_params(method_cls.Params, spec.hparams)).fit(ctx)
    finally:
        monkeypatch.undo()
    return ctx, sizes, capped


def test_every_adaptation_stage_draws_one_target_batch_with_replacement(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    suite_batch = suites.SMOKE_GMM.finetune["target_batch"]
    trained_on_targets = set()
    for spec in smoke_gmm_specs():
        ctx, sizes, capped = fit_logging_target_draws(spec, tmp_path / spec.method, monkeypatch)
        name = spec.method
        assert not capped, f"{name}: a batch of the n targets capped at n (randperm)"
        assert set(sizes) <= {suite_batch}, f"{name} drew target batches of {sorted(set(sizes))}, not {suite_batch}"
        cost = ctx.cost_record(0.0, 0.0)
        # the cost block counts the draws made (a fresh cache: every stage was built here)
        assert cost["target_draws"] == sum(sizes), (name, cost)
        for stage, c in cost["stages"].items():
            assert c["steps"] >= 0 and c["seconds"] is not None and c["seconds"] >= 0, (name, stage, c)
            if c["target_draws"]:
                assert c["target_draws"] == c["steps"] * suite_batch, (name, stage, c)
        if sizes:
            trained_on_targets.add(name)
        elif name in ("source-only", "source-only-cond", "target-oracle", "tgdp-oracle-ratio",
                      "tgdp-oracle-guidance"):
            assert cost["target_draws"] == 0, name
    # the methods that adapt on the targets were all seen drawing (the test looked at them)
    assert {"finetune", "finetune-cond", "scratch", "scratch-cond", "lora", "tgdp", "tgdp-cond", "tgdp-tclf",
            "tgdp-cycle", "tgdp-lr", "importance-weighted", "domain-guidance", "dogfit", "difffit", "deft",
            "domain-cfg", "tiw-dsm", "x0-guidance"} <= trained_on_targets


def test_a_stage_with_another_batch_fails_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The instrument sees a stage that draws another batch (here: finetune at batch 64)."""
    spec = next(s for s in smoke_gmm_specs() if s.method == "finetune")
    odd = dataclasses.replace(spec, hparams={**spec.hparams, "target_batch": 64})
    _, sizes, _ = fit_logging_target_draws(odd, tmp_path / "odd", monkeypatch)
    assert set(sizes) == {64} != {suites.SMOKE_GMM.finetune["target_batch"]}


@pytest.mark.parametrize("name", ["SMOKE_GMM", "SMOKE_ECG", "QUICK_GMM", "QUICK_ECG", "PAPER_GMM", "PAPER_ECG"])
def test_every_budget_has_one_target_batch(name: str) -> None:
    budget = getattr(suites, name)
    values = {budget.finetune["target_batch"], budget.scratch["target_batch"], budget.classifier["clf_batch"],
              budget.guidance["guid_batch"], *([budget.time_classifier["tclf_batch"]] if budget.time_classifier else [])}
    assert len(values) == 1, (name, values)


@pytest.mark.parametrize("suite", ["smoke", "quick", "extended", "paper"])
def test_every_planned_run_of_a_task_setting_resolves_one_target_batch(suite: str) -> None:
    """After the budgets, the exceptions and the inherited tclf_* values: one batch per (cell, task params)."""
    by_setting: dict[str, set[int]] = {}
    for spec in plan(REGS.suites.get(suite)(), REGS):
        if spec.variant != spec.method:
            continue  # tagged variants may change a budget on purpose
        key = f"{spec.task}{sorted(spec.task_params.items())}"
        by_setting.setdefault(key, set()).update(spec.hparams[f] for f in BATCH_FIELDS if f in spec.hparams)
    assert by_setting and all(len(v) == 1 for v in by_setting.values()), by_setting


def test_records_carry_their_cost_and_reused_stages_count_their_build(tmp_path: Path, cli_main) -> None:
    results = tmp_path / "r"
    code, out, err = cli_main("run", "--suite", "smoke", "--tasks", "gmm2d", "--methods", "source-only", "finetune",
                              "domain-guidance", "--results", results, *RUN_FLAGS)
    assert code == 0, err
    recs = by_method(results)
    for name, rec in recs.items():
        cost = rec["cost"]
        assert set(cost) == {"stages", "seconds", "target_draws"}, name
        source = cost["stages"]["source"]["seconds"] or 0.0  # the given source model is not counted
        assert cost["seconds"] >= rec["timings"]["fit_s"] + rec["timings"]["sample_s"] - source - 1e-9, name
        assert cost["seconds"] <= rec["timings"]["fit_s"] + rec["timings"]["sample_s"] + sum(
            c["seconds"] or 0.0 for k, c in cost["stages"].items() if k != "source") + 1e-9, name
        assert cost["target_draws"] == sum(c["target_draws"] for c in cost["stages"].values()), name
        assert "source" in cost["stages"] and cost["stages"]["source"]["target_draws"] == 0, name
    assert recs["source-only"]["cost"]["target_draws"] == 0
    ft, dg = recs["finetune"]["cost"]["stages"]["finetune"], recs["domain-guidance"]["cost"]["stages"]["finetune"]
    assert ft["target_draws"] == ft["steps"] * suites.SMOKE_GMM.finetune["target_batch"] > 0
    # one run built the finetune stage, the other reused it: both count the same build seconds
    built = [r for r in recs.values() if any(s.startswith("finetune/") for s in r["stages"]["built"])]
    assert len(built) == 1 and ft == dg and ft["seconds"] > 0
