"""The README's "Add a method" example, copied verbatim into a plugins folder, runs end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO_ROOT, RUN_FLAGS, records, run_cli, run_counts


def readme_example() -> str:
    """The first ```python block after the heading "## Add a method" in README.md."""
    text = (REPO_ROOT / "README.md").read_text()
    head = text.index("\n## Add a method\n")
    match = re.compile(r"^```python\n(.*?)^```", re.S | re.M).search(text, head)
    assert match is not None, "README has no ```python block after '## Add a method'"
    return match.group(1)


def test_readme_example_is_a_complete_plugin() -> None:
    code = readme_example()
    compile(code, "README.md example", "exec")
    assert '@register_method("head-finetune"' in code


@pytest.mark.slow
def test_readme_example_runs_end_to_end(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "head_finetune.py").write_text(readme_example())

    listing = run_cli("list", "methods", "--plugins", plugins)
    assert listing.returncode == 0, listing.stderr
    (line,) = [ln for ln in listing.stdout.splitlines() if ln.strip().startswith("head-finetune ")]
    assert "only the output layer of the source model is trained" in line
    assert "head_steps=200" in listing.stdout and "head_lr=0.001" in listing.stdout

    results = tmp_path / "results"
    proc = run_cli("run", "--suite", "smoke", "--methods", "head-finetune", "--plugins", plugins,
                   "--results", results, *RUN_FLAGS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recs = records(results)
    assert run_counts(proc.stdout) == {"done": len(recs)}  # one run per smoke task
    assert {r["spec"]["method"] for r in recs.values()} == {"head-finetune"}
    assert all(r["status"] == "done" for r in recs.values())
    (rec,) = [r for r in recs.values() if r["spec"]["task"] == "gmm2d"]
    assert rec["resolved_hparams"]["head_steps"] == 200
    assert {"mmd", "mmd_floor", "density_error", "sliced_wasserstein"} <= set(rec["metrics"])
    assert rec["options"]["plugin_dirs"] == [str(plugins.resolve())]
    assert any(s.startswith("source/") for s in rec["stages"]["built"])
    assert "head-finetune" in proc.stdout  # the status table names it

    check = run_cli("check", "--plugins", plugins)  # the README's last step: the method contract
    assert check.returncode == 0 and check.stdout.splitlines()[0] == "method head-finetune: ok", check.stdout
