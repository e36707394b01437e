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

import pytest

from benchmark.errors import BenchmarkError
from benchmark.planner import plan
from benchmark.registry import load_registries
from benchmark.report.reference import (BLOCK, block_suite, export_reference, joined_references, load_reference,
                                        render_blocks, update_readme)
from conftest import REPO_ROOT

REFERENCE_DIR = REPO_ROOT / "results" / "reference"
REFERENCES = {suite: REFERENCE_DIR / f"{suite}.jsonl" for suite in ("quick", "protocol-dev", "recent")}
PAGES = (REPO_ROOT / "README.md", REPO_ROOT / "docs" / "protocol.md", REPO_ROOT / "docs" / "recent-methods.md")


@pytest.mark.parametrize("suite", sorted(REFERENCES))
def test_readme_and_protocol_tables_are_what_the_committed_reference_renders(suite: str) -> None:
    regs = load_registries()
    joined = joined_references(regs.suites.get(suite)(), REFERENCE_DIR)
    blocks = render_blocks(load_reference(REFERENCES[suite]), regs, joined)
    for page in PAGES:
        assert update_readme(page, blocks, check=True, suite=suite) == [], (
            f"{page.name}'s tables differ from results/reference/{suite}.jsonl; run "
            f"`python -m benchmark reference --suite {suite} --render-only` (table code changed) or "
            f"`python -m benchmark reference --suite {suite} --results DIR` (new runs)")
    shown = {m.group("slug") for page in PAGES for m in BLOCK.finditer(page.read_text())}
    assert {s for s in blocks if s in shown} and not {s for s in shown if block_suite(s) == suite} - set(blocks)


@pytest.mark.parametrize("suite", sorted(REFERENCES))
def test_committed_reference_holds_exactly_the_suite_plan(suite: str) -> None:
    regs = load_registries()
    planned = {s.run_id for s in plan(regs.suites.get(suite)(), regs)}
    ref = load_reference(REFERENCES[suite])
    assert ref.run_ids == planned, (
        f"results/reference/{suite}.jsonl holds {len(ref.run_ids - planned)} runs the {suite} suite no longer plans "
        f"and lacks {len(planned - ref.run_ids)}; run `python -m benchmark run --suite {suite}` then "
        f"`python -m benchmark reference --suite {suite}`")
    assert {r["torch_threads"] for r in ref.records} == {1}


def test_blocks_of_another_suite_are_left_to_its_reference(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("<!-- results:a:begin -->\nx\n<!-- results:a:end -->\n"
                    "<!-- results:dev:b:begin -->\ny\n<!-- results:dev:b:end -->\n")
    assert update_readme(page, {"a": "new a\n"}) == ["a"]
    assert "new a" in page.read_text() and "\ny\n" in page.read_text()
    assert update_readme(page, {"dev:b": "new b\n"}, suite="dev") == ["dev:b"]
    assert "new b" in page.read_text() and "new a" in page.read_text()
    with pytest.raises(BenchmarkError, match="results:a block"):
        update_readme(page, {}, check=True)


def test_reference_command_regenerates_and_checks_blocks(smoke_results: Path, tmp_path: Path, cli_main) -> None:
    regs = load_registries()
    specs = plan(regs.suites.get("smoke")(), regs)
    ref = export_reference(smoke_results, specs, tmp_path / "smoke.jsonl")
    blocks = render_blocks(ref, regs)
    assert blocks and all("| " in b and "From `python -m benchmark run --suite smoke`" in b for b in blocks.values())
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
    readme.write_text(readme.read_text().replace(blocks[slug], "stale\n"))
    code, out, _ = cli_main("reference", "--suite", "smoke", "--reference", tmp_path / "smoke.jsonl",
                            "--readme", readme, "--render-only")
    assert code == 0 and f"updated {slug}" in out and blocks[slug] in readme.read_text()
    table = blocks[slug][blocks[slug].index("| "):]
    readme.write_text(readme.read_text().replace(table, table.replace("0.", "9.", 1)))
    code, out, _ = cli_main("reference", "--suite", "smoke", "--reference", tmp_path / "smoke.jsonl",
                            "--readme", readme, "--check")
    assert code == 1 and slug in out
