"""One home per name: a private module (a ``_name`` segment in its dotted path) of a ``taskonomy``
subpackage is imported only from inside that subpackage.

Every other package imports the name from the subpackage's ``__init__`` (``from taskonomy.world
import preview_sheet``, not ``from taskonomy.world._preview import preview_sheet``), so that the
private modules can be split, merged or renamed without touching their users. The imports are read
from the source with :mod:`ast`, anywhere in a file (inside functions and under TYPE_CHECKING
too), for every ``.py`` file under ``taskonomy/``, ``services/`` and ``benchmarks/``.

A private module directly under ``taskonomy`` (``taskonomy._config``) belongs to the whole core:
any ``taskonomy`` module may import it, ``services`` and ``benchmarks`` may not.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WALKED = ("taskonomy", "services", "benchmarks")

def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, dotted name) of everything ``source`` imports; ``from x import y`` gives ``x.y``
    (``y`` may be a module) and relative imports are made absolute."""
    package = module if is_package else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return sorted(out)


def is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_module(name: str) -> str:
    """The module an imported name lives in: ``name`` itself when it is a module of the
    repository (``from taskonomy.world import _labels``), else its parent (``preview_sheet`` of
    ``taskonomy.world._preview``; ``_REGISTRY`` of ``taskonomy.tasks``)."""
    return name if is_module(name) else name.rpartition(".")[0]


def owner_of_private(module: str) -> str | None:
    """The subpackage a private ``taskonomy`` module belongs to, or None for a public module.

    ``taskonomy.world._preview`` → ``taskonomy.world``; ``taskonomy._config`` → ``taskonomy``.
    """
    parts = module.split(".")
    if parts[0] != "taskonomy":
        return None
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[: min(i, 2)])
    return None


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    found = []
    for line, name in imported_modules(source, module, is_package=is_package):
        target = imported_module(name)
        owner = owner_of_private(target)
        if owner is None or module == owner or module.startswith(owner + "."):
            continue
        found.append(f"{module}:{line} imports {target} (private to {owner})")
    return found


def test_the_walker_sees_a_cross_package_private_import() -> None:
    src = (
        "from taskonomy.world._preview import preview_sheet\n"
        "from taskonomy.world import _labels\n"
        "def f():\n    import taskonomy.tasks._constants as c\n"
        "from taskonomy.data._shards import decode\n"
        "from taskonomy._config import x\n"
    )
    bad = violations(src, "services.commands.serve")
    assert [b.split(" imports ")[1] for b in bad] == [
        "taskonomy.world._preview (private to taskonomy.world)",
        "taskonomy.world._labels (private to taskonomy.world)",
        "taskonomy.tasks._constants (private to taskonomy.tasks)",
        "taskonomy.data._shards (private to taskonomy.data)",
        "taskonomy._config (private to taskonomy)",
    ]
    # inside the owning subpackage, relative or absolute, and the core's own private modules: fine
    inside = violations(src, "taskonomy.world._render")
    assert [b.split(" imports ")[1].split(" ")[0] for b in inside] == [
        "taskonomy.tasks._constants", "taskonomy.data._shards",
    ]
    assert violations("from ._labels import soften_edges\n", "taskonomy.world._render") == []
    assert violations("from taskonomy._config import x\n", "taskonomy.data._shards") == []
    # a private attribute of a public module is not a private module
    assert violations("from taskonomy.tasks import _REGISTRY\n", "taskonomy.world._scene") == []


def test_no_module_imports_another_packages_private_module() -> None:
    found: list[str] = []
    for top in WALKED:
        for path in sorted((REPO / top).rglob("*.py")):
            if "generated" in path.parts:
                continue
            found += violations(path.read_text(encoding="utf-8"), module_name(path),
                                is_package=path.name == "__init__.py")
    assert not found, "import the public name from the package's __init__ instead:\n" + "\n".join(found)
