"""README's result tables come from one command and are checked against it.

* ``python -m benchmark reference`` copies a suite's done records to
  ``results/reference/<suite>.jsonl`` and rewrites README's ``results:<slug>`` blocks from
  them with the report's table code.
* In CI (no time to run the quick suite) the committed reference stands in for the runs:
  README's blocks must equal what it renders to, and it must hold exactly the runs the
  quick suite plans today, so changing the suite without running it again fails here.
* The mechanism itself is exercised end to end on the smoke records.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.planner import plan
from benchmark.registry import load_registries
from benchmark.report.reference import export_reference, load_reference, render_blocks, update_readme
from conftest import REPO_ROOT

REFERENCE = REPO_ROOT / "results" / "reference" / "quick.jsonl"


def test_readme_tables_are_what_the_committed_reference_renders() -> None:
    regs = load_registries()
    ref = load_reference(REFERENCE)
    assert update_readme(REPO_ROOT / "README.md", render_blocks(ref, regs), check=True) == [], \
        "README's tables differ from results/reference/quick.jsonl; run `python -m benchmark reference`"


def test_committed_reference_holds_exactly_the_quick_suite_plan() -> None:
    regs = load_registries()
    planned = {s.run_id for s in plan(regs.suites.get("quick")(), regs)}
    ref = load_reference(REFERENCE)
    assert ref.run_ids == planned, (
        f"results/reference/quick.jsonl holds {len(ref.run_ids - planned)} runs the quick suite no longer plans and "
        f"lacks {len(planned - ref.run_ids)}; run `python -m benchmark run --all` then `python -m benchmark reference`")
    assert {r["torch_threads"] for r in ref.records} == {1}


def test_reference_command_regenerates_and_checks_blocks(smoke_results: Path, tmp_path: Path, cli_main) -> None:
    regs = load_registries()
    specs = plan(regs.suites.get("smoke")(), regs)
    ref = export_reference(smoke_results, specs, tmp_path / "smoke.jsonl")
    blocks = render_blocks(ref, regs)
    assert blocks and all("| " in b and "From `python -m benchmark run --all`" in b for b in blocks.values())
    slug = sorted(blocks)[0]
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n<!-- results:{slug}:begin -->\nold numbers\n<!-- results:{slug}:end -->\noutro\n")
    code, out, _ = cli_main("reference", "--suite", "smoke", "--results", smoke_results,
                            "--reference", tmp_path / "smoke2.jsonl", "--readme", readme)
    assert code == 0 and f"updated {slug}" in out
    assert (tmp_path / "smoke2.jsonl").read_text() == (tmp_path / "smoke.jsonl").read_text()
    assert blocks[slug] in readme.read_text() and readme.read_text().endswith("outro\n")
    code, out, _ = cli_main("reference", "--suite", "smoke", "--reference", tmp_path / "smoke.jsonl",
                            "--readme", readme, "--check")
    assert code == 0 and "tables match" in out
    table = blocks[slug][blocks[slug].index("| "):]
    readme.write_text(readme.read_text().replace(table, table.replace("0.", "9.", 1)))
    code, out, _ = cli_main("reference", "--suite", "smoke", "--reference", tmp_path / "smoke.jsonl",
                            "--readme", readme, "--check")
    assert code == 1 and slug in out
