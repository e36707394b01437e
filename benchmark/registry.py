"""Registries of methods, tasks, metrics, suites and figures, and plugin loading.

Registration is a decorator that *marks* an object (``@register_method("lora", ...)``);
:func:`load_registries` imports the built-in modules of the one list
:data:`benchmark.builtin.BUILTIN_MODULES` as package modules (the built-in tasks and
methods as ``benchmark.builtin.datasets.*`` / ``benchmark.builtin.methods.*``), imports the
plugin folders of ``--plugins DIR`` by file path, under a private module name
(``_tldm_plugins.<hash>.<stem>``), and collects every marked object into fresh
:class:`Registry` instances.  Nothing is kept in module-level state, so loading twice is
harmless, and no folder called ``datasets/`` ever shadows the Hugging Face package.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

from benchmark.builtin import BUILTIN_MODULES
from benchmark.errors import BenchmarkError

T = TypeVar("T")
KINDS = ("method", "task", "metric", "suite", "figure")
_MARK = "__tldm_registration__"


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object with its name, kind, one-line description and origin."""

    kind: str
    name: str
    obj: T
    description: str
    origin: str


def _marks(obj: Any) -> tuple[tuple[str, str, str], ...]:
    """The registrations made on ``obj`` itself; a subclass does not inherit its parent's."""
    try:
        return tuple(vars(obj).get(_MARK, ()))
    except TypeError:  # no __dict__
        return tuple(getattr(obj, _MARK, ()))


def _register(kind: str, name: str, description: str) -> Callable[[T], T]:
    if not name or not isinstance(name, str):
        raise BenchmarkError(f"a {kind} needs a non-empty string name")

    def mark(obj: T) -> T:
        marks = list(_marks(obj))
        marks.append((kind, name, description or (obj.__doc__ or "").strip().split("\n")[0]))
        setattr(obj, _MARK, tuple(marks))
        return obj

    return mark


def register_method(name: str, description: str = "") -> Callable[[T], T]:
    """Mark a :class:`benchmark.api.Method` subclass as the method ``name``."""
    return _register("method", name, description)


def register_task(name: str, description: str = "") -> Callable[[T], T]:
    """Mark a :class:`benchmark.api.Task` subclass as the task ``name``."""
    return _register("task", name, description)


def register_metric(name: str, description: str = "") -> Callable[[T], T]:
    """Mark a metric function ``f(ctx) -> dict[str, float]`` as ``name``."""
    return _register("metric", name, description)


def register_suite(name: str, description: str = "") -> Callable[[T], T]:
    """Mark a zero-argument function returning a :class:`benchmark.spec.Suite`."""
    return _register("suite", name, description)


def register_figure(name: str, description: str = "") -> Callable[[T], T]:
    """Mark a figure function ``f(data: ReportData) -> dict[str, Figure]`` (see benchmark.report.figures)."""
    return _register("figure", name, description)


@dataclass
class Registry(Generic[T]):
    """Name -> :class:`Entry`; names are unique, unknown names suggest close matches."""

    kind: str
    entries: dict[str, Entry[T]] = field(default_factory=dict)

    def add(self, entry: Entry[T]) -> None:
        old = self.entries.get(entry.name)
        if old is not None and old.obj is not entry.obj:
            raise BenchmarkError(
                f"{self.kind} '{entry.name}' is registered twice ({old.origin} and "
                f"{entry.origin}); rename one of them"
            )
        self.entries[entry.name] = entry

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        if name not in self.entries:
            close = difflib.get_close_matches(name, list(self.entries), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else "none is close"
            raise BenchmarkError(
                f"unknown {self.kind} '{name}': {hint} "
                f"(`python -m benchmark list {self.kind}s` shows all)"
            )
        return self.entries[name]

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self.entries[n] for n in self.names())


@dataclass
class Registries:
    """The five registries of one process, built by :func:`load_registries`."""

    methods: Registry[Any]
    tasks: Registry[Any]
    metrics: Registry[Any]
    suites: Registry[Any]
    figures: Registry[Any]
    plugin_dirs: tuple[str, ...] = ()

    def by_kind(self, kind: str) -> Registry[Any]:
        kind = kind.rstrip("s")
        if kind not in KINDS:
            close = difflib.get_close_matches(kind, list(KINDS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}s? " if close else ""
            raise BenchmarkError(f"unknown registry '{kind}'; {hint}choose one of {', '.join(k + 's' for k in KINDS)}")
        return getattr(self, kind + "s")


def _module_name(path: Path) -> str:
    digest = hashlib.sha256(str(path.parent.resolve()).encode()).hexdigest()[:10]
    return f"_tldm_plugins.p{digest}.{path.stem.replace('-', '_')}"


def load_plugin_file(path: Path) -> ModuleType:
    """Import ``path`` under a private module name (re-using it if already imported)."""
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BenchmarkError(f"cannot import plugin file {path}; is it a Python file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BenchmarkError:
        del sys.modules[name]
        raise
    except Exception as exc:  # a broken plugin names itself
        del sys.modules[name]
        raise BenchmarkError(f"plugin {path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def _plugin_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise BenchmarkError(f"plugin folder {folder} does not exist; pass an existing folder to --plugins")
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


def _collect(module: ModuleType, regs: Registries, origin: str) -> None:
    for value in list(vars(module).values()):
        for kind, name, description in _marks(value):
            if getattr(value, "__module__", module.__name__) != module.__name__:
                continue  # imported from elsewhere; registered by its own module
            regs.by_kind(kind).add(Entry(kind, name, value, description, origin))


def load_registries(plugin_dirs: Iterable[str | Path] = (),
                    on_error: Callable[[Path, BenchmarkError], None] | None = None) -> Registries:
    """Build the registries from the built-in modules and plugin folders.

    Args:
        plugin_dirs: extra folders (``--plugins DIR``) whose ``*.py`` files are loaded.
        on_error: called with (file, error) for a plugin file that fails to import, which is
            then skipped (``check`` reports it); by default the error propagates.
    """
    regs = Registries(*(Registry(k) for k in KINDS))
    extra = tuple(str(Path(p).resolve()) for p in plugin_dirs)
    regs.plugin_dirs = extra
    for module in builtin_modules():
        _collect(module, regs, module.__name__)
    for folder in map(Path, extra):
        for path in _plugin_files(folder):
            try:
                module = load_plugin_file(path)
            except BenchmarkError as exc:
                if on_error is None:
                    raise
                on_error(path, exc)
                continue
            _collect(module, regs, str(path))
    return regs


def builtin_modules() -> list[ModuleType]:
    """The imported modules of :data:`~benchmark.builtin.BUILTIN_MODULES`, a package expanded
    into its modules (sorted; names starting with ``_`` skipped)."""
    out = []
    for name in BUILTIN_MODULES:
        module = importlib.import_module(name)
        out.append(module)
        if hasattr(module, "__path__"):
            subs = sorted(m.name for m in pkgutil.iter_modules(module.__path__) if not m.name.startswith("_"))
            out += [importlib.import_module(f"{name}.{sub}") for sub in subs]
    return out
