"""What each built-in suite runs is pinned: the resolved hyper-parameters of every run of
smoke, quick, extended and paper (folded over n_target and trials) must equal the golden
files in tests/golden/.  A change to a suite, a Params default or the budget rules shows up
here and in review.  Regenerate with ``UPDATE_GOLDEN=1 python -m pytest tests/test_suites.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from benchmark.planner import plan, resolved_config
from benchmark.registry import load_registries
from benchmark.suites import QUICK_GMM, Budget, highdim_budget

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", ["smoke", "quick", "recent", "extended", "paper"])
def test_resolved_hyper_parameters_match_the_golden_file(name: str) -> None:
    regs = load_registries()
    got = resolved_config(plan(regs.suites.get(name)(), regs))
    path = GOLDEN / f"resolved_{name}.json"
    text = json.dumps(got, indent=1, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"{path} is missing; regenerate with UPDATE_GOLDEN=1"
    assert json.loads(path.read_text()) == got, f"suite {name} changed; review, then regenerate with UPDATE_GOLDEN=1"


def _resolved(regs, name: str, method: str, task: str = "gmm2d") -> list[dict]:
    """The default configuration (draw 0) of ``method`` on ``task``: the protocol's draws 1..K-1 vary
    the tuned fields on purpose."""
    return [e for e in resolved_config(plan(regs.suites.get(name)(), regs))
            if e["method"] == method and e["task"] == task and not e.get("draw")]


def test_lora_keeps_its_own_learning_rate_in_every_gmm_suite() -> None:
    """The regression of issue 13: quick's full-finetune rate (2e-4) reached LoRA through the
    shared block.  Exceptions are explicit now."""
    regs = load_registries()
    for suite in ("extended", "paper"):
        (lora,) = {json.dumps(e["hparams"], sort_keys=True) for e in _resolved(regs, suite, "lora")}
        assert json.loads(lora)["finetune_lr"] == 1e-3, suite
    (finetune,) = {json.dumps(e["hparams"], sort_keys=True) for e in _resolved(regs, "quick", "finetune")}
    assert json.loads(finetune)["finetune_lr"] == QUICK_GMM.finetune["finetune_lr"]


def test_a_budget_block_reaches_only_the_methods_that_declare_it() -> None:
    """A plugin method with a field named like a budget key (finetune_lr) but without the
    finetune block keeps its own default; declaring a block without its fields is an error."""
    import dataclasses

    from benchmark.denoiser_methods import DenoiserParams
    from benchmark.errors import BenchmarkError
    from benchmark.planner import _merged_overrides
    from benchmark.stage_configs import declared_blocks

    @dataclasses.dataclass(frozen=True)
    class Homonym(DenoiserParams):
        finetune_lr: float = 0.5  # same name as the finetune block's key, another meaning

    hp = QUICK_GMM.hparams()
    keys = {f.name for f in dataclasses.fields(Homonym)}
    got = _merged_overrides("homonym", keys, (hp,), declared_blocks(Homonym))
    assert "finetune_lr" not in got and got["width"] == QUICK_GMM.denoiser["width"]
    assert declared_blocks(Homonym) == {"denoiser"}

    @dataclasses.dataclass(frozen=True)
    class Liar(DenoiserParams):
        BLOCKS = ("finetune",)

    with pytest.raises(BenchmarkError, match="declares the finetune block but has no field finetune_"):
        _merged_overrides("liar", {f.name for f in dataclasses.fields(Liar)}, (hp,), declared_blocks(Liar))


def test_budget_blocks_may_not_share_a_key() -> None:
    with pytest.raises(ValueError, match="in two blocks"):
        Budget(denoiser={"lr": 1e-3}, finetune={"lr": 2e-3}).hparams()


def test_list_suites_resolved_prints_every_run_setting(cli_main) -> None:
    code, out, _ = cli_main("list", "suites", "--resolved", "quick")
    assert code == 0
    assert out.startswith("suite quick: ") and "1 torch thread(s) per run" in out
    assert "] finetune (+ target-val holdout runs)  n_target=10/100/1000" in out and "finetune_lr=0.0002" in out
    assert "] finetune draw=3 (+ target-val holdout runs)  n_target=10/100/1000" in out
    code, _, err = cli_main("list", "methods", "--resolved", "quick")
    assert code == 2 and "--resolved goes with `list suites`" in err


def test_extended_sizes_the_highdim_denoiser_per_dimension() -> None:
    """gmm-highdim uses highdim_budget(d): QUICK_GMM at d = 2, a longer-trained denoiser at d = 8,
    a wider one with a 50-step sampler at d = 32 (scripts/highdim_sizing.py); the adaptation
    blocks stay quick's, and the source model of tgdp-oracle-ratio is the cell's own."""
    assert highdim_budget(2) == QUICK_GMM
    assert (highdim_budget(8).denoiser["width"], highdim_budget(8).denoiser["source_epochs"]) == (128, 800)
    d32 = highdim_budget(32).denoiser
    assert (d32["width"], d32["source_epochs"], d32["sample_steps"]) == (256, 800, 50)
    assert highdim_budget(32).finetune == QUICK_GMM.finetune and highdim_budget(32).guidance == QUICK_GMM.guidance
    regs = load_registries()
    by_dim: dict[int, set[str]] = {}
    for e in resolved_config(plan(regs.suites.get("extended")(), regs)):
        if e["task"] == "gmm-highdim" and e["method"] in ("target-oracle", "source-only", "tgdp-oracle-ratio"):
            by_dim.setdefault(e["task_params"]["dim"], set()).add(
                json.dumps({k: e["hparams"][k] for k in ("width", "source_epochs", "sample_steps")}))
    assert sorted(by_dim) == [2, 8, 32]
    for d, sizes in by_dim.items():
        den = highdim_budget(d).denoiser
        assert sizes == {json.dumps({k: den[k] for k in ("width", "source_epochs", "sample_steps")})}, d
    with pytest.raises(ValueError, match="dim=1"):
        highdim_budget(1)


def test_recent_runs_on_quick_cells_so_their_rows_pair_with_quick_rows() -> None:
    """``recent`` is run into ``run --all``'s folder: its cells must be quick's (task, task
    parameters, n_target, trials, K), or its rows would not pair by trial with quick's."""
    from benchmark.suites import RECENT_METHODS, quick, recent

    def cells(suite):
        return {(c.task, json.dumps(dict(c.task_params), sort_keys=True)): (c.n_targets, c.seeds, c.draws)
                for c in suite.cells}

    got, want = cells(recent()), cells(quick())
    assert got and set(got) <= set(want)
    for key, value in got.items():
        assert value == want[key], key
    assert {m for c in recent().cells for m in c.methods} == set(RECENT_METHODS)


def test_a_suite_read_with_quick_expects_quicks_runs_in_its_report() -> None:
    """``run``/``report --suite recent`` expect quick's runs beside recent's (Suite.reads_with),
    restricted like the run flags, and add no cell for a task quick lacks."""
    from benchmark.planner import joined_plan, select

    regs = load_registries()
    recent = regs.suites.get("recent")()
    quick_ids = {s.run_id for s in plan(regs.suites.get("quick")(), regs)}
    assert {s.run_id for s in joined_plan(recent, regs)} == quick_ids
    only = joined_plan(select(recent, regs, ["gmm2d"]), regs, ["gmm2d"], [100], [100])
    assert only and {(s.task, s.n_target, s.trial) for s in only} == {("gmm2d", 100, 100)}
    assert joined_plan(recent, regs, ["gmm-highdim"]) == []
    assert joined_plan(regs.suites.get("quick")(), regs) == []
