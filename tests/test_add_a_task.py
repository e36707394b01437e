"""The "Add a task" example of docs/add_a_task.md, copied verbatim into a plugins folder, runs end to end
(tests/test_task_contract.py checks it against the task contract)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import REPO_ROOT, RUN_FLAGS, records, run_cli, run_counts

DOC = REPO_ROOT / "docs" / "add_a_task.md"


def task_example() -> str:
    """The first ```python block after the heading "## Example" in docs/add_a_task.md."""
    text = DOC.read_text()
    head = text.index("\n## Example\n")
    match = re.compile(r"^```python\n(.*?)^```", re.S | re.M).search(text, head)
    assert match is not None, "docs/add_a_task.md has no ```python block after '## Example'"
    return match.group(1)


def run_command() -> list[str]:
    """The arguments of the bash block after ``<!-- add-a-task-run -->`` (after ``python -m benchmark``)."""
    text = DOC.read_text()
    block = text[text.index("<!-- add-a-task-run -->"):].split("```bash\n", 1)[1].split("```", 1)[0]
    words = shlex.split(block.replace("\\\n", " "))
    assert words[:3] == ["python", "-m", "benchmark"], words
    return words[3:]


def test_example_is_a_complete_plugin() -> None:
    code = task_example()
    compile(code, "docs/add_a_task.md example", "exec")
    assert '@register_task("ring2d"' in code and "design.subset(" in code


@pytest.mark.slow
def test_example_runs_end_to_end(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "ring.py").write_text(task_example())

    listing = run_cli("list", "tasks", "--plugins", plugins)
    assert listing.returncode == 0, listing.stderr
    assert "ring2d" in listing.stdout and "a noisy unit ring (source) -> its upper half (target)" in listing.stdout

    results = tmp_path / "results"
    args = [str(plugins) if word == "DIR" else word for word in run_command()]
    proc = run_cli(*args, "--results", results, *RUN_FLAGS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recs = records(results)
    assert run_counts(proc.stdout) == {"done": 2} and len(recs) == 2
    assert {r["spec"]["method"] for r in recs.values()} == {"finetune", "tgdp"}
    for rec in recs.values():
        assert rec["status"] == "done" and rec["spec"]["task"] == "ring2d"
        assert {"mmd", "mmd_floor", "sliced_wasserstein"} <= set(rec["metrics"])
