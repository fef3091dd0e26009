"""The project's import graph, read statically (every import statement, function-level ones included): no cycles
among its modules, and the layering rules of issue 25 hold."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ganpaint_core", "eval", "human_study")


def project_modules() -> dict[str, Path]:
    """Module name -> file for the demo and every module of the project's packages (a package is its
    ``__init__``)."""
    modules = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to: itself, or the closest enclosing module (``a.b.func`` -> ``a.b``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``module`` imports anywhere in its file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _target(name, modules)
            if target is not None and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def reaches(graph: dict[str, set[str]], source: str, prefix: str) -> list[str]:
    """Modules under ``prefix`` that ``source`` imports directly."""
    return sorted(t for t in graph.get(source, ()) if t == prefix or t.startswith(prefix + "."))


def test_the_checker_sees_cycles_and_function_level_imports(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    modules = {"pkg": tmp_path / "pkg" / "__init__.py", "pkg.x": tmp_path / "pkg" / "x.py",
               "pkg.y": tmp_path / "pkg" / "y.py"}
    modules["pkg.x"].parent.mkdir()
    modules["pkg.x"].write_text("def f():\n    from pkg.y import thing\n    from . import y\n    return thing, y\n")
    assert imports_of("pkg.x", modules["pkg.x"], modules) == {"pkg.y"}


def test_no_import_cycles_among_the_projects_modules():
    assert cycles(import_graph()) == []


def test_layering():
    graph = import_graph()
    study = [m for m in graph if m == "human_study" or m.startswith("human_study.")]
    assert {m: reaches(graph, m, "eval") for m in study if reaches(graph, m, "eval")} == {}
    assert reaches(graph, "ganpaint_core.metrics", "ganpaint_core.editing") == []
    library = [m for m in graph if m.startswith("ganpaint_core")]
    assert {m: reaches(graph, m, p) for m in library for p in ("eval", "human_study") if reaches(graph, m, p)} == {}
