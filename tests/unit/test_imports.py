"""The core's dependencies point one way: no import cycle between its modules or its packages.

The imports are read from the source with :mod:`ast` — at module level and inside functions
alike (an import inside a function is a dependency too; hiding a cycle there does not break
it). ``taskonomy.contract`` says what to compute; ``taskonomy.execution`` produces artifacts;
``taskonomy.modelbank`` and ``taskonomy.report`` read them; the CLI and :mod:`taskonomy.run_outputs`
compose them.
"""

from __future__ import annotations

import ast
import graphlib
from collections import defaultdict
from pathlib import Path

import pytest

import taskonomy

ROOT = Path(taskonomy.__file__).parent


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name → file, for every module and package of ``root``."""
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the modules of the same root it imports (anywhere in its source)."""
    root = next(iter(mods)).split(".")[0]

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
                # `from pkg import sub` depends on the module pkg.sub where there is one
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for name in names:
                target = resolve(name) if name.split(".")[0] == root else None
                if target is not None and target != mod:
                    edges[mod].add(target)
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def package_of(mod: str) -> str:
    """``taskonomy.execution.run`` → ``taskonomy.execution``; top-level modules stand for themselves."""
    return ".".join(mod.split(".")[:2])


def test_no_cycle_between_modules() -> None:
    found = cycle(imports(modules()))
    assert found is None, f"import cycle: {' -> '.join(found)}"


def test_no_cycle_between_packages() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for a, targets in imports(modules()).items():
        for b in targets:
            if package_of(a) != package_of(b):
                edges[package_of(a)].add(package_of(b))
    found = cycle(edges)
    assert found is None, f"import cycle between packages: {' -> '.join(found)}"


@pytest.mark.parametrize("package, forbidden", [
    ("taskonomy.execution", {"taskonomy.modelbank", "taskonomy.report", "taskonomy.cli", "taskonomy.run_outputs"}),
    ("taskonomy.contract", {"taskonomy.execution", "taskonomy.world", "taskonomy.data", "taskonomy.training",
                            "taskonomy.nets", "taskonomy.modelbank", "taskonomy.report", "taskonomy.cli",
                            "taskonomy.run_outputs", "taskonomy.affinity", "taskonomy.selection"}),
])
def test_producers_import_none_of_their_readers(package: str, forbidden: set[str]) -> None:
    """Execution produces artifacts that the model bank and the report read; the contract is what
    every service imports, so it imports nothing that runs."""
    edges = imports(modules())
    members = {m for m in edges if package_of(m) == package}
    assert members, package
    used = {package_of(t) for m in members for t in edges[m]}
    assert not used & forbidden, sorted(used & forbidden)


def test_the_walker_sees_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    pkg = tmp_path / "demo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import f\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from demo.b import g\n    return g\n")
    (pkg / "b.py").write_text("from demo.sub import a\n\ndef g():\n    return a\n")
    mods = modules(pkg)
    edges = imports(mods)
    assert edges["demo.sub.a"] == {"demo.b"} and edges["demo.b"] == {"demo.sub.a"}
    assert edges["demo.sub"] == {"demo.sub.a"}
    found = cycle(edges)
    assert found is not None and set(found) >= {"demo.sub.a", "demo.b"}


@pytest.mark.parametrize("forbidden", ["celery", "grpc", "fastapi", "redis", "uvicorn", "kombu"])
def test_the_core_imports_no_infrastructure(forbidden: str) -> None:
    for mod, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not any(n.split(".")[0] == forbidden for n in names), f"{mod} imports {forbidden}"
