"""Numbers in docs/ that come from runs are generated from the committed reference, and a test keeps
them in step: the estimator table of docs/results.md is what scripts/estimator_table.py prints."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT


def _table(text: str) -> str:
    start = text.index("| method | guidance_loss |")
    end = text.find("\n\n", start)
    return text[start:end if end >= 0 else len(text)].strip()


def test_estimator_table_in_results_md_is_the_reference() -> None:
    out = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "estimator_table.py"),
                          str(REPO_ROOT / "results" / "reference" / "pre-protocol-quick.jsonl")],
                         capture_output=True, text=True, check=True, cwd=REPO_ROOT).stdout
    doc = (REPO_ROOT / "docs" / "results.md").read_text()
    assert _table(doc) == _table(out), "regenerate the table: python scripts/estimator_table.py results/reference/pre-protocol-quick.jsonl"
