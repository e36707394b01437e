"""Golden tests of the report: committed fixture records -> report -> committed tables.

The fixture records (tests/fixtures/report_records, written by
tests/fixtures/make_report_fixtures.py) hold every kind of hole: a grid cell never run, a
failed run, a stale record and a corrupt one.  The report's LaTeX and Markdown tables and
its missing list must equal the committed files under tests/golden/report/.

After an intended change to the report, regenerate the golden files and review the diff:

    UPDATE_GOLDEN=1 python -m pytest tests/test_report_golden.py
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.registry import load_registries

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "report_records"
PLUGINS = REPO_ROOT / "tests" / "fixtures" / "report_plugins"
GOLDEN = REPO_ROOT / "tests" / "golden" / "report"


def golden_view(out: Path) -> dict[str, str]:
    """Relative path -> text of the files the golden test pins: tables (.tex, .md), missing.csv."""
    files = sorted(p for p in (out / "tables").rglob("*") if p.suffix in (".tex", ".md"))
    files.append(out / "missing.csv")
    return {str(p.relative_to(out)): p.read_text() for p in files}


@pytest.fixture(scope="module")
def fixture_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m benchmark report --paper`` on the fixture records (in process)."""
    out = tmp_path_factory.mktemp("report") / "reports"
    code = main(["report", "--results", str(FIXTURES), "--out", str(out), "--plugins", str(PLUGINS), "--paper"])
    assert code == 0
    return out


@pytest.mark.slow
def test_tables_and_missing_list_match_the_golden_files(fixture_report: Path) -> None:
    produced = golden_view(fixture_report)
    if os.environ.get("UPDATE_GOLDEN"):
        if GOLDEN.exists():
            shutil.rmtree(GOLDEN)
        for rel, text in produced.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_text(text)
    expected = {str(p.relative_to(GOLDEN)): p.read_text() for p in sorted(GOLDEN.rglob("*")) if p.is_file()}
    assert sorted(produced) == sorted(expected), "set of report files changed (UPDATE_GOLDEN=1 to accept)"
    for rel in expected:
        if produced[rel] != expected[rel]:
            diff = "".join(difflib.unified_diff(expected[rel].splitlines(True), produced[rel].splitlines(True),
                                                f"golden/{rel}", f"report/{rel}"))
            pytest.fail(f"{rel} differs from the golden file (UPDATE_GOLDEN=1 to accept):\n{diff}")


@pytest.mark.slow
def test_every_registered_figure_renders_from_the_fixture_records(fixture_report: Path) -> None:
    names = load_registries([PLUGINS]).figures.names()
    readme = (fixture_report / "README.md").read_text()
    assert "Not drawn" not in readme
    for name in names:
        stems = sorted(p.stem for p in (fixture_report / "figures").glob(f"{name}__*.pdf"))
        stems += [name] if (fixture_report / "figures" / f"{name}.pdf").exists() else []  # one figure, no variant
        assert stems, f"figure {name} was not drawn"
        for stem in stems:
            pdf = (fixture_report / "figures" / f"{stem}.pdf").read_bytes()
            png = (fixture_report / "figures" / f"{stem}.png").read_bytes()
            assert pdf.startswith(b"%PDF") and png.startswith(b"\x89PNG")
            assert b"CreationDate" not in pdf and b"Matplotlib" not in pdf
            assert b"Software" not in png and b"matplotlib" not in png.lower()
            assert f"figures/{stem}.png" in readme


@pytest.mark.slow
def test_paper_set_and_index(fixture_report: Path) -> None:
    paper = fixture_report / "paper"
    assert (paper / "fig02-density-ratio__gmm2d.pdf").read_bytes() == \
        (fixture_report / "figures" / "density-ratio__gmm2d.pdf").read_bytes()
    assert (paper / "table-gmm2d.tex").read_text() == (fixture_report / "tables" / "gmm2d" / "main.tex").read_text()
    readme = (fixture_report / "README.md").read_text()
    assert "[paper/](paper/)" in readme and "### gmm2d" in readme and "### ecg-fixture" in readme
    assert "done records" in readme and "5 expected runs without a done record" in readme
