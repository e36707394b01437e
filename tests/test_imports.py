"""The import graph of ``benchmark/``: no circle (function-level imports included) and no upward
import from the registry; the built-ins are found through the one list of built-in modules."""

from __future__ import annotations

import ast
from pathlib import Path

from benchmark.builtin import BUILTIN_MODULES
from benchmark.registry import builtin_modules

ROOT = Path(__file__).resolve().parent.parent / "benchmark"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


def _imports(tree: ast.AST) -> list[ast.AST]:
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING:``."""
    out: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the benchmark modules it imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    mods = _modules()

    def owner(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps: set[str] = set()
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {owner(a.name) for a in node.names if a.name.startswith("benchmark")}
            elif node.module and node.module.startswith("benchmark"):
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    deps.add(full if full in mods else owner(node.module))
        graph[name] = deps - {name, ""}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_the_engine() -> None:
    graph = import_graph()
    assert "benchmark.diffusion.layers" in graph["benchmark.diffusion.unet1d"]
    assert cycles(graph) == []


def test_registry_imports_nothing_above_it() -> None:
    graph = import_graph()
    seen, todo = set(), ["benchmark.registry"]
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo += graph[mod]
    assert seen == {"benchmark.registry", "benchmark.builtin", "benchmark.errors"}, seen


def test_builtins_come_from_the_one_list() -> None:
    names = [m.__name__ for m in builtin_modules()]
    assert names[: len(BUILTIN_MODULES)] != [] and set(BUILTIN_MODULES) <= set(names)
    assert {"benchmark.builtin.datasets.gmm", "benchmark.builtin.methods.lora",
            "benchmark.report.figures.samples"} <= set(names)
    # every file of the repository's datasets/ and methods/ folders is a built-in module
    repo = ROOT.parent
    for folder in ("datasets", "methods"):
        stems = {p.stem for p in (repo / folder).glob("*.py") if not p.name.startswith("_")}
        assert {n.rpartition(".")[2] for n in names if n.startswith(f"benchmark.builtin.{folder}.")} == stems
