"""Run store (record states, archiving into history/) and the artifact cache, in process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from benchmark.artifacts import ArtifactCache
from benchmark.spec import RunSpec
from benchmark.store import CORRUPT, DONE, FAILED, MISSING, RunStore, atomic_write_text


#: a real spec: a record is only its run's when its spec hashes to the folder's run id
SPEC = RunSpec("smoke", 0, "gmm2d", {"n_target": 10}, "scratch", {}, 0).to_dict()
RID = RunSpec.from_dict(SPEC).run_id


def test_record_states(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.write_spec(RID, SPEC)
    assert store.state(RID).status == MISSING and list(store.run_ids()) == [RID]
    base = {"run_id": RID, "spec": SPEC}
    store.write_record(RID, {**base, "status": "done", "metrics": {"m": 1.0}})
    assert store.state(RID).status == DONE and store.done_records()[0]["metrics"] == {"m": 1.0}
    store.write_record(RID, {**base, "status": "failed", "error": {"message": "boom"}})
    assert store.state(RID).status == FAILED and store.state(RID).reason == "boom"
    for text in ("{", "[]", '{"status": "done"}', '{"status": "maybe"}', "null",
                 '{"status": "done", "run_id": "abc", "spec": {}}',  # no metrics
                 '{"status": "done", "run_id": "abc", "spec": {}, "metrics": null}',
                 '{"status": "done", "run_id": "abc", "spec": {}, "metrics": {"m": "high"}}',
                 '{"status": "done", "run_id": "abc", "metrics": {}}'):  # no spec
        atomic_write_text(store.folder(RID) / "record.json", text)
        assert store.state(RID).status == CORRUPT, text
    assert not list(store.folder(RID).glob(".*.tmp"))


def test_archive_moves_record_samples_and_outputs_together(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.write_spec(RID, SPEC)
    store.write_record(RID, {"run_id": RID, "spec": SPEC, "status": "done", "metrics": {}})
    folder = store.folder(RID)
    np.savez(folder / "samples.npz", samples=np.zeros(3))
    np.savez(folder / "outputs.npz", grid=np.ones(2))
    dst = store.archive(RID, "replaced")
    assert dst is not None and dst.parent == folder / "history"
    stamp = dst.name[len("record.replaced."):-len(".json")]
    assert sorted(p.name for p in (folder / "history").iterdir()) == sorted(
        [f"record.replaced.{stamp}.json", f"samples.replaced.{stamp}.npz", f"outputs.replaced.{stamp}.npz"])
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["spec.json"]
    assert json.loads(dst.read_text())["status"] == "done"
    assert store.archive(RID, "again") is None  # nothing left to archive


def test_artifact_cache_builds_once_and_rebuilds_a_damaged_entry(tmp_path: Path) -> None:
    calls = []

    def build() -> dict:
        calls.append(1)
        return {"w": torch.arange(4), "n": len(calls)}

    key = {"data": "k1", "arch": {"width": 8}}
    cache = ArtifactCache(tmp_path / "artifacts")
    first = cache.get_or_build("source", key, build)
    again = ArtifactCache(tmp_path / "artifacts").get_or_build("source", key, build)
    assert len(calls) == 1 and again["n"] == first["n"] == 1
    assert cache.builds == [f"source/{cache.path('source', key).name}"]
    other = cache.get_or_build("source", {**key, "arch": {"width": 16}}, build)
    assert other["n"] == 2  # another key, another entry

    payload = cache.path("source", key) / "payload.pt"
    payload.write_bytes(payload.read_bytes()[:-8] + b"corrupt!")
    fresh = ArtifactCache(tmp_path / "artifacts")
    rebuilt = fresh.get_or_build("source", key, build)
    assert rebuilt["n"] == 3 and fresh.builds and not fresh.hits
    aside = list((tmp_path / "artifacts" / "source").glob(f"{cache.path('source', key).name}.damaged-*"))
    assert len(aside) == 1 and (aside[0] / "payload.pt").exists()  # kept, not deleted
