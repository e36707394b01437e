"""The one list of built-in modules, and the packages that hold the built-in tasks and methods.

:data:`BUILTIN_MODULES` names every module (or package, meaning each of its modules) whose
registrations :func:`benchmark.registry.load_registries` collects.  This module imports no
other part of the engine, so the registry can read the list without importing upwards.

The built-in tasks and methods live, for the reader, in the repository's top-level folders
``datasets/`` and ``methods/`` (one file each).  They are imported as the packages
``benchmark.builtin.datasets`` and ``benchmark.builtin.methods``:

- in a built wheel or a ``pip install .``, ``pyproject.toml``'s ``package-dir`` ships the
  two folders as ``benchmark/builtin/datasets`` and ``benchmark/builtin/methods``;
- in a source checkout (or an editable install), those folders do not exist inside the
  package, and the packages are pointed at ``<repo>/datasets`` and ``<repo>/methods``.

Nested under ``benchmark``, the folder called ``datasets`` never shadows the Hugging Face
``datasets`` package.  Plugin folders passed with ``--plugins DIR`` are loaded by path
instead (:func:`benchmark.registry.load_plugin_file`).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

#: Every built-in registration, in load order; a package stands for all of its modules.
BUILTIN_MODULES: tuple[str, ...] = (
    "benchmark.metrics.sample_metrics",
    "benchmark.metrics.ecg_metrics",
    "benchmark.metrics.two_sample",
    "benchmark.suites",
    "benchmark.report.figures",
    "benchmark.builtin.datasets",
    "benchmark.builtin.methods",
)

#: sub-package -> the repository folder it ships from (``pyproject.toml`` maps the same pairs)
FOLDERS = {"datasets": "datasets", "methods": "methods"}

_HERE = Path(__file__).resolve().parent


def folder(sub: str) -> Path:
    """Where the built-in ``sub`` package's files are: inside the installed package, else the repo's folder."""
    inside = _HERE / sub
    return inside if inside.is_dir() else _HERE.parent.parent / FOLDERS[sub]


def _install(sub: str) -> None:
    """Create ``benchmark.builtin.<sub>`` as a package whose path is :func:`folder` (no ``__init__.py``
    is needed, so ``datasets/`` in the repository stays a plain folder)."""
    name = f"{__name__}.{sub}"
    if name in sys.modules:
        return
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(folder(sub))]
    module = importlib.util.module_from_spec(spec)
    module.__doc__ = f"The built-in {sub} (files of {folder(sub)})."
    sys.modules[name] = module
    setattr(sys.modules[__name__], sub, module)


for _sub in FOLDERS:
    _install(_sub)
