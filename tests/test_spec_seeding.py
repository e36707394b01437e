"""Run specs (canonical JSON, run_id stable across processes) and seed derivation."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import torch

from benchmark.registry import load_registries
from benchmark.planner import plan
from benchmark.runner import run_seeds
from benchmark.seeding import PURPOSES, derive_seed
from benchmark.spec import RunSpec, canonical_json
from conftest import gmm_task, records, run_python

# the identity: what is computed (no suite name, no variant label; issue 22)
PINNED_JSON = ('{"hparams":{"alpha":4.0,"rank":4,"sampler":"dpm2"},"method":"lora",'
               '"suite_seed":0,"task":"gmm2d","task_params":{"n_target":10,"variance":0.1},"trial":1}')
PINNED_RUN_ID = "79a0efb3f79de7d2"


def pinned_spec(**change) -> RunSpec:
    fields = dict(suite="smoke", suite_seed=0, task="gmm2d", task_params={"variance": 0.1, "n_target": 10},
                  method="lora", hparams={"sampler": "dpm2", "rank": 4, "alpha": 4.0}, trial=1)
    fields.update(change)
    return RunSpec(**fields)


def test_canonical_json_and_run_id_are_pinned() -> None:
    spec = pinned_spec()
    assert spec.canonical() == PINNED_JSON
    assert spec.run_id == hashlib.sha256(PINNED_JSON.encode()).hexdigest()[:16] == PINNED_RUN_ID


def test_threads_enter_the_run_id_only_when_not_one() -> None:
    spec = pinned_spec(threads=2)
    assert '"threads":2' in spec.canonical() and spec.run_id != PINNED_RUN_ID
    assert RunSpec.from_dict(spec.to_dict()).threads == 2 and RunSpec.from_dict(pinned_spec().to_dict()).threads == 1


def test_run_id_ignores_key_order_and_changes_with_every_field() -> None:
    spec = pinned_spec()
    reordered = pinned_spec(task_params={"n_target": 10, "variance": 0.1}, hparams={"alpha": 4.0, "rank": 4, "sampler": "dpm2"})
    assert reordered.run_id == spec.run_id
    assert RunSpec.from_dict(json.loads(spec.canonical())).run_id == spec.run_id
    changes = [dict(suite_seed=1), dict(task="gmm-highdim"), dict(method="finetune"), dict(trial=2),
               dict(task_params={"variance": 0.1, "n_target": 100}), dict(hparams={"sampler": "dpm2", "rank": 8, "alpha": 4.0}),
               dict(threads=2)]
    ids = {pinned_spec(**c).run_id for c in changes}
    assert len(ids) == len(changes) and spec.run_id not in ids


def test_the_suite_and_the_variant_label_are_provenance_not_identity() -> None:
    """The same computation planned by two suites (or two tagged cells) is one run; the record
    keeps the suite and the label that planned it."""
    spec = pinned_spec()
    other = pinned_spec(suite="extended", variant="lora[rank=4]")
    assert other.run_id == spec.run_id and other.canonical() == spec.canonical()
    saved = other.to_dict()
    assert saved["suite"] == "extended" and saved["variant"] == "lora[rank=4]"
    assert RunSpec.from_dict(saved) == other and RunSpec.from_dict(saved).run_id == spec.run_id


def test_quick_and_extended_share_their_common_runs() -> None:
    """extended runs quick's GMM rows at K = 16 on 10 evaluation trials: its draws 0-3 on trials
    100-104 are quick's (a draw is seeded by its index, not by K), so every quick GMM run is one
    run id, one record, in both suites."""
    regs = load_registries()
    quick = {s.run_id: s for s in plan(regs.suites.get("quick")(), regs)}
    extended = {s.run_id: s for s in plan(regs.suites.get("extended")(), regs)}
    gmm = {r for r, s in quick.items() if s.task != "ecg-synth"}
    assert gmm and gmm <= extended.keys()
    assert {quick[r].holdout for r in gmm} > {0} and {quick[r].draw for r in gmm} == {0, 1, 2, 3}
    assert all(quick[r].label_of_variant() == extended[r].label_of_variant() for r in gmm)


def test_spec_is_frozen() -> None:
    spec = pinned_spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.trial = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.hparams["rank"] = 8  # type: ignore[index]


def test_canonical_json_rejects_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


HASH_CODE = """
import json
from benchmark.registry import load_registries
from benchmark.planner import plan
from benchmark.spec import RunSpec
regs = load_registries()
ids = sorted(s.run_id for name in ("smoke", "quick") for s in plan(regs.suites.get(name)(), regs))
pinned = RunSpec("smoke", 0, "gmm2d", {"variance": 0.1, "n_target": 10}, "lora",
                 {"sampler": "dpm2", "rank": 4, "alpha": 4.0}, 1).run_id
print(json.dumps({"ids": ids, "pinned": pinned}))
"""


@pytest.mark.slow
def test_run_ids_stable_across_processes_and_hash_seeds() -> None:
    """The planned run ids of two suites and the pinned spec, computed in two interpreters with
    different PYTHONHASHSEED, agree with each other and with this process."""
    outs = []
    for hash_seed in ("0", "4242"):
        proc = run_python(HASH_CODE, PYTHONHASHSEED=hash_seed)
        assert proc.returncode == 0, proc.stderr
        outs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    regs = load_registries()
    here = sorted(s.run_id for name in ("smoke", "quick") for s in plan(regs.suites.get(name)(), regs))
    assert outs[0] == outs[1]
    assert outs[0]["ids"] == here and len(here) == len(set(here)) > 0
    assert outs[0]["pinned"] == PINNED_RUN_ID


# ----------------------------------------------------------------------------- seeds


def test_derive_seed_is_pinned_deterministic_and_in_range() -> None:
    assert derive_seed(0, "data", "gmm2d", 1) == 261042284948989467
    assert derive_seed(7, "subset", "gmm2d", 10, 0) == 2612915172919815457
    s = derive_seed(3, "train", "gmm2d", {"n_target": 10}, "lora", 0)
    assert s == derive_seed(3, "train", "gmm2d", {"n_target": 10}, "lora", 0)
    assert 0 <= s < 2**63


def test_derive_seed_streams_are_separate() -> None:
    axes = ("gmm2d", {"n_target": 10, "variance": 0.1}, "lora", 0)
    by_purpose = {p: derive_seed(0, p, *axes) for p in PURPOSES}
    assert len(set(by_purpose.values())) == len(PURPOSES)
    variants = [derive_seed(1, "train", *axes),                                   # suite seed
                derive_seed(0, "train", "gmm-highdim", *axes[1:]),                # task
                derive_seed(0, "train", axes[0], {"n_target": 100, "variance": 0.1}, *axes[2:]),
                derive_seed(0, "train", *axes[:2], "finetune", 0),                 # method
                derive_seed(0, "train", *axes[:3], 1),                             # trial
                derive_seed(0, "train", *axes, "extra")]
    assert len(set(variants)) == len(variants) and by_purpose["train"] not in variants
    # dict key order is irrelevant, argument position is not
    assert derive_seed(0, "x", {"a": 1, "b": 2}) == derive_seed(0, "x", {"b": 2, "a": 1})
    assert derive_seed(0, "x", 1, 2) != derive_seed(0, "x", 2, 1)


def test_run_seeds_differ_between_methods_and_purposes() -> None:
    a = pinned_spec()
    b = pinned_spec(method="finetune")
    sa, sb = run_seeds(a), run_seeds(b)
    assert set(sa) == {"init", "train", "sample", "eval"} and len(set(sa.values())) == 4
    assert all(sa[k] != sb[k] for k in sa)
    assert run_seeds(pinned_spec()) == sa


SMALL = dict(n_source=300, n_pool=400, n_test=200, n_eval=100)


def test_target_subset_depends_on_task_n_target_and_trial_only(gmm) -> None:
    base = gmm_task(gmm, n_target=10, **SMALL).build()
    again = gmm_task(gmm, n_target=10, **SMALL).build()
    for name in ("source_x", "source_y", "target_x", "target_y", "test_x", "oracle_x"):
        assert torch.equal(getattr(base, name), getattr(again, name)), name
    assert (base.source_key, base.target_key) == (again.source_key, again.target_key)
    # n_eval (how many samples are generated) is not a data axis
    other_eval = gmm_task(gmm, n_target=10, **{**SMALL, "n_eval": 50}).build()
    assert torch.equal(other_eval.target_x, base.target_x) and other_eval.target_key == base.target_key
    # another trial or suite seed: other data
    trial1 = gmm_task(gmm, trial=1, n_target=10, **SMALL).build()
    seed1 = gmm_task(gmm, suite_seed=1, n_target=10, **SMALL).build()
    for other in (trial1, seed1):
        assert not torch.equal(other.target_x, base.target_x) and not torch.equal(other.source_x, base.source_x)
        assert other.target_key != base.target_key


def test_other_n_target_keeps_pool_and_source(gmm) -> None:
    """n_target picks a subset of one fixed target pool; source, pool and test set do not move."""
    n10 = gmm_task(gmm, n_target=10, **SMALL).build()
    n100 = gmm_task(gmm, n_target=100, **SMALL).build()
    for name in ("source_x", "test_x", "oracle_x"):
        assert torch.equal(getattr(n10, name), getattr(n100, name)), name
    assert n10.source_key == n100.source_key and n10.target_key != n100.target_key
    assert n10.target_x.shape == (10, 2) and n100.target_x.shape == (100, 2)
    for sub in (n10, n100):  # rows of the pool, without repeats, with their labels
        match = (sub.target_x[:, None, :] == sub.oracle_x[None]).all(-1)
        assert (match.sum(1) >= 1).all()
        rows = match.float().argmax(1)
        assert len(set(rows.tolist())) == len(rows)
        assert torch.equal(sub.oracle_y[rows], sub.target_y)


@pytest.mark.slow
def test_every_method_saw_identical_data(smoke_results) -> None:
    recs = records(smoke_results).values()
    for task in {r["spec"]["task"] for r in recs}:
        group = [r for r in recs if r["spec"]["task"] == task]
        assert len(group) >= 5, task
        prints = {json.dumps(r["data_fingerprints"], sort_keys=True) for r in group}
        assert len(prints) == 1, task
        assert len({r["seeds"]["sample"] for r in group}) == len(group)  # each method its own sampling noise
