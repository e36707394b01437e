"""The order runs are handed to workers: a permutation of the plan, a pure function of the
spec list, source-model builders first, signal tasks first; suite_profile's attribution and the
artifact cache's exclusive build times (the speed instrumentation); the cached mmd reference."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

from benchmark.planner import plan, source_group, worker_order
from benchmark.registry import load_registries
from benchmark.suites import quick


def _quick_specs():
    return plan(quick(), load_registries(()))


def test_worker_order_is_a_permutation_and_independent_of_input_order() -> None:
    regs = load_registries(())
    specs = _quick_specs()
    cond = lambda m: bool(regs.methods.get(m).conditional)  # noqa: E731
    assert sorted(s.run_id for s in specs) == sorted(s.run_id for s in worker_order(list(specs), cond))
    again = worker_order(list(specs), cond)
    assert [s.run_id for s in again] == [s.run_id for s in worker_order(again, cond)]  # idempotent
    shuffled = list(specs)
    random.Random(0).shuffle(shuffled)
    assert sorted(s.run_id for s in worker_order(shuffled, cond)) == sorted(s.run_id for s in specs)


def test_source_builders_come_first_signal_tasks_first() -> None:
    regs = load_registries(())
    specs = _quick_specs()
    groups = {source_group(s, bool(regs.methods.get(s.method).conditional)) for s in specs}
    head = specs[:len(groups)]
    # every source group has a run among the first |groups| runs, and ecg-synth's come before gmm2d's
    assert {source_group(s, bool(regs.methods.get(s.method).conditional)) for s in head} == groups
    tasks = [s.task for s in head]
    assert tasks == sorted(tasks, key=lambda t: t != "ecg-synth")
    assert {s.method for s in head if s.task == "ecg-synth"} == {"source-only"}  # quick's ECG rows: no -cond
    # then the vector runs, and the signal runs last: they all wait on the source model one worker builds
    signal = ["length" in s.task_params for s in specs[len(groups):]]
    assert any(signal) and signal == sorted(signal)


def _suite_profile():
    path = Path(__file__).resolve().parent.parent / "scripts" / "suite_profile.py"
    spec = importlib.util.spec_from_file_location("suite_profile", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_suite_profile_attributes_stage_metric_and_rest_seconds() -> None:
    sp = _suite_profile()
    rec = {"spec": {"task": "ecg-synth"}, "status": "done", "started": 0.0, "finished": 20.0,
           "timings": {"data_s": 1.0, "fit_s": 10.0, "sample_s": 2.0, "eval_s": 7.0, "cpu_s": 19.0},
           "profile": {"stage_s": {"source/a": {"wall_s": 6.0, "cpu_s": 5.0},
                                   "time-classifier/b": {"wall_s": 1.0, "cpu_s": 1.0},
                                   "ecg-downstream-real/c": {"wall_s": 2.0, "cpu_s": 2.0}},
                       "metric_s": {"ecg_downstream": {"wall_s": 5.0, "cpu_s": 5.0},
                                    "ecg_features": {"wall_s": 1.5, "cpu_s": 1.5}},
                       "fit_cpu_s": 9.0, "sample_cpu_s": 2.0}}
    out = sp.attribute(rec)
    assert out["source"] == 6.0 and out["classifier"] == 1.0 and out["fit (rest)"] == 3.0
    assert out["ecg downstream real-only"] == 2.0 and out["ecg downstream augmented"] == 3.0
    assert out["metric ecg_features"] == 1.5 and out["eval (rest)"] == 0.5
    assert abs(sum(out.values()) - 20.0) < 1e-9  # the wall seconds of the run, nothing lost or counted twice
    assert sp.attribute(rec, cpu=True)["fit (rest)"] == 3.0
    span, cpu, busy = sp.busy_share([rec], cores=2)
    assert (span, cpu) == (20.0, 19.0) and abs(busy - 19.0 / 40.0) < 1e-12


def test_artifact_build_times_exclude_nested_builds(tmp_path) -> None:
    import time

    from benchmark.artifacts import ArtifactCache

    cache = ArtifactCache(tmp_path)

    def inner() -> dict:
        time.sleep(0.3)
        return {"v": 1}

    outer = cache.get_or_build("guidance", {"k": 1}, lambda: {"inner": cache.get_or_build("time-classifier", {"k": 2}, inner)})
    assert outer == {"inner": {"v": 1}}
    times = {k.split("/")[0]: v for k, v in cache.build_times.items()}
    assert set(times) == {"guidance", "time-classifier"} and cache.builds[0].startswith("time-classifier/")
    assert times["time-classifier"]["wall_s"] >= 0.3 > times["guidance"]["wall_s"] >= 0.0


def test_cached_mmd_reference_gives_the_inline_values(tmp_path) -> None:
    """mmd / mmd_floor read b_med, the reference kernel sums and the floor from a cached stage;
    the values equal the inline computation bit for bit, with and without the cache."""
    import torch

    from benchmark.artifacts import ArtifactCache
    from benchmark.metrics.context import EvalContext
    from benchmark.metrics.kernels import MIX, median_bandwidth, mmd2_unbiased, mmd2_unbiased_sets

    regs = load_registries(())
    task_cls = regs.tasks.get("gmm2d")
    data = task_cls(task_cls.Params(n_target=10, n_source=500, n_pool=500, n_test=600, n_eval=300), 0, 0).build()
    samples = torch.randn(300, 2, generator=torch.Generator().manual_seed(3))
    ref, other = data.test_x[:300], data.test_x[300:600]
    med = median_bandwidth(ref)
    mixed, median = mmd2_unbiased_sets(samples, ref, [[med * f for f in MIX], [med]])
    expected = {"mmd": mixed, "mmd_median": median, "mmd_floor": mmd2_unbiased(other, ref, [med * f for f in MIX])}
    cache = ArtifactCache(tmp_path)
    for c in (None, cache, cache):  # inline, cache miss (build), cache hit (load)
        ctx = EvalContext(data=data, samples=samples, labels=None, seed=0, device=torch.device("cpu"), cache=c)
        got = {**regs.metrics.get("mmd")(ctx), **regs.metrics.get("mmd_floor")(ctx)}
        assert got == expected
    assert [s.split("/")[0] for s in cache.builds] == ["mmd-reference"] and len(cache.hits) == 3
