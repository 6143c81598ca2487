"""Print the project's runtime requirements from pyproject.toml, minus excluded distributions.

The torch-free images (gateway, solver) and the worker images (whose base image already ships
a CUDA build of torch) install these pins first, then the project itself with ``--no-deps``,
so pip never resolves ``torch`` and never pulls a multi-gigabyte wheel. Reading pyproject.toml
at build time keeps the images' pins identical to the package's, with no second list to drift.

Usage: ``python requirements.py pyproject.toml --extra services --exclude torch``
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def distribution_name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement (PEP 503 normalisation)."""
    match = _NAME.match(requirement)
    if match is None:
        raise ValueError(f"not a PEP 508 requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def requirements(pyproject: Path, *, extras: list[str], exclude: list[str]) -> list[str]:
    """Core dependencies plus the named extras, without excluded names or self-references."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    own = distribution_name(project["name"])
    optional = project.get("optional-dependencies", {})
    unknown = [extra for extra in extras if extra not in optional]
    if unknown:
        raise ValueError(f"unknown extra(s) {unknown}; pyproject defines {sorted(optional)}")
    dropped = {distribution_name(name) for name in exclude} | {own}
    selected: list[str] = []
    for requirement in [*project.get("dependencies", []), *(r for extra in extras for r in optional[extra])]:
        if distribution_name(requirement) not in dropped and requirement not in selected:
            selected.append(requirement)
    return selected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("--extra", action="append", default=[], help="an optional-dependencies group to add")
    parser.add_argument("--exclude", action="append", default=[], help="a distribution name to leave out")
    args = parser.parse_args(argv)
    try:
        lines = requirements(args.pyproject, extras=args.extra, exclude=args.exclude)
    except (OSError, KeyError, ValueError) as error:
        print(f"requirements.py: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
