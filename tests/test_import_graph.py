"""The import graph: no cycle among the modules of ``services/`` (every import counts, also one
inside a function or under TYPE_CHECKING), and the core ``taskonomy/`` never imports ``services``
(the services' CLI commands reach it through the ``taskonomy.commands`` entry point)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py")) if "generated" not in p.parts}


def _imports(path: Path, module: str) -> set[str]:
    """Every module name ``path`` imports (absolute, with ``from x import y`` as ``x.y`` and ``x``)."""
    out: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def _graph(package: str) -> dict[str, set[str]]:
    modules = _modules(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = {m for m in _imports(path, name) if m in modules and m != name}
        graph[name] = edges
    return graph


def test_the_graph_walker_sees_a_cycle() -> None:
    ts = graphlib.TopologicalSorter({"a": {"b"}, "b": {"a"}})
    try:
        ts.prepare()
    except graphlib.CycleError as exc:
        assert set(exc.args[1]) == {"a", "b"}
    else:
        raise AssertionError("no cycle found")
    edges = _imports(ROOT / "services/gateway/context.py", "services.gateway.context")
    assert "services.gateway.taxonomy_service" in edges and "services.queue.submission" in edges


def test_no_import_cycle_in_services() -> None:
    graph = _graph("services")
    assert len(graph) > 30
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_the_core_imports_nothing_from_services() -> None:
    offenders = []
    for name, path in _modules("taskonomy").items():
        bad = sorted(m for m in _imports(path, name) if m == "services" or m.startswith("services."))
        if bad:
            offenders.append(f"{name}: {', '.join(bad)}")
    assert offenders == []
