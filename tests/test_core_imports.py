"""The import graph of the project, read with ``ast`` (nothing is run): no circles, and imports that
run one way (plugin districts import the core; the core imports no district; envs import no agents).

An edge is every ``import`` and ``from ... import`` of a project module anywhere in a file (inside
functions too: a lazy import is still an import) and every ``importlib.import_module("...")`` of a
literal name. Imports under ``if TYPE_CHECKING:`` are left out: they never run, they only name types.
An import of ``a.b.c`` is an edge to ``a.b.c`` alone, as import linters count it (not to the
packages ``a`` and ``a.b`` that Python initialises on the way).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: where each installed package lives in the repository (pyproject.toml's package-dir)
FOLDERS = {"sandbox": ROOT / "sandbox", "sandbox.agents": ROOT / "agents", "sandbox.envs": ROOT / "envs",
           "sandbox.generative": ROOT / "generative"}
DISTRICTS = ("sandbox.agents", "sandbox.envs", "sandbox.generative")


def project_modules(folders: dict[str, Path]) -> dict[str, Path]:
    """Every module of the project by its installed name (a package by its ``__init__.py``)."""
    modules: dict[str, Path] = {}
    for prefix, folder in folders.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([prefix, *parts])] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(tree: ast.AST, module: str, is_package: bool, modules: set[str] | None = None) -> set[str]:
    """The dotted names a module's code imports. ``from a import b`` gives ``a.b`` when that is a
    module of ``modules`` and ``a`` otherwise (without ``modules``: both)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if modules is None:
                    found.update((base, sub))
                else:
                    found.add(sub if sub in modules else base)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(folders: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    modules = project_modules(folders)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        names = imported_names(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py", set(modules))
        graph[name] = {n for n in names if n in modules} - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def district(module: str) -> str | None:
    return next((d for d in DISTRICTS if module == d or module.startswith(d + ".")), None)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(FOLDERS)


def test_the_graph_sees_imports_of_every_kind(graph):
    # module level, function level and importlib: the reader must see all three, or the tests below prove nothing
    assert "sandbox.config" in graph["sandbox.run"]
    assert "sandbox.agents.sb3" in graph["sandbox.agents.ppo"]
    assert "sandbox.envs.games.base" in graph["sandbox.envs.games.tictactoe"]
    assert len(graph) > 40


def test_find_cycle_finds_a_circle_and_passes_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_a_lazy_import_counts_and_a_type_only_import_does_not():
    code = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x.typed\ndef f():\n    from x import lazy\n"
    names = imported_names(ast.parse(code), "m", False)
    assert "x.lazy" in names and "x.typed" not in names


def test_no_module_imports_one_that_imports_it_back(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_core_imports_no_plugin_district(graph):
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if district(m) is None for t in ts if district(t) is not None)
    assert not bad, "the core imports a plugin district: " + ", ".join(bad)


def test_districts_import_only_downwards(graph):
    # agents may use envs (AlphaZero reads the games' rules); envs and generative use no other district
    allowed = {"sandbox.agents": {"sandbox.envs"}, "sandbox.envs": set(), "sandbox.generative": set()}
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if (d := district(m)) for t in ts
                 if (e := district(t)) and e != d and e not in allowed[d])
    assert not bad, "a district imports another upwards: " + ", ".join(bad)
