"""pyproject.toml ships exactly the engine's packages plus the built-in tasks and methods, and only
``benchmark`` at the top level; ``.ci/wheel_check.sh`` builds and installs the wheel for real."""

from __future__ import annotations

import tomllib
from pathlib import Path

from benchmark.builtin import FOLDERS, folder

REPO = Path(__file__).resolve().parent.parent


def test_pyproject_lists_every_package_and_maps_the_builtin_folders() -> None:
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "benchmark").rglob("__init__.py")}
    mapped = {f"benchmark.builtin.{sub}": repo_folder for sub, repo_folder in FOLDERS.items()}
    assert set(tool["packages"]) == on_disk | set(mapped), "update [tool.setuptools] packages in pyproject.toml"
    assert tool["package-dir"] == mapped
    assert {p.split(".")[0] for p in tool["packages"]} == {"benchmark"}  # not `scripts`, `datasets` ...


def test_source_checkout_points_the_builtin_packages_at_the_repository_folders() -> None:
    for sub, repo_folder in FOLDERS.items():
        assert folder(sub) == REPO / repo_folder
        assert not (REPO / repo_folder / "__init__.py").exists()  # `datasets/` must not become a package
