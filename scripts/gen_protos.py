#!/usr/bin/env python
"""Generate the gRPC stubs of protos/ into services/solver/generated/ (or check they are current).

    .venv/bin/python scripts/gen_protos.py            # regenerate the committed stubs
    .venv/bin/python scripts/gen_protos.py --check    # exit 1 if the committed stubs drifted

protoc runs with ``-Iprotos``, so every descriptor is registered under its package path
(``taskonomy/solver/v1/solver.proto``). The generated modules would import each other as
``taskonomy.solver.v1...``, which clashes with the core package ``taskonomy``; the imports of
generated modules are therefore rewritten to relative ones, and the modules are written flat
into ``services/solver/generated/``. Needs grpcio-tools (the ``dev`` extra), pinned in
pyproject.toml so that regeneration is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_DIR = ROOT / "services" / "solver" / "generated"
HEADER = '"""Generated from protos/ by scripts/gen_protos.py: do not edit (CI checks for drift)."""\n'
_ABS_IMPORT = re.compile(r"^from ((?:\w+\.)*\w+) import (\w+_pb2(?:_grpc)?)", re.MULTILINE)


def generate() -> dict[str, str]:
    """Run protoc over every .proto under protos/; return {file name: text} of the flat package."""
    from grpc_tools import protoc

    protos = sorted(p.relative_to(PROTO_ROOT).as_posix() for p in PROTO_ROOT.rglob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_ROOT}")
    include = Path(protoc.__file__).parent / "_proto"  # well-known types
    files: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *protos,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        local = {Path(p).with_suffix("").as_posix().replace("/", ".") for p in protos}
        for path in sorted(Path(tmp).rglob("*.py*")):
            name = path.name
            if name in files:
                raise SystemExit(f"two protos generate {name}: rename one (the output package is flat)")

            files[name] = _ABS_IMPORT.sub(lambda m: _relative(m, local), path.read_text())
    files["__init__.py"] = HEADER
    return files


def _relative(match: re.Match[str], local: set[str]) -> str:
    """``from taskonomy.solver.v1 import solver_pb2`` -> ``from . import solver_pb2`` for our own protos."""
    package, module = match.group(1), match.group(2)
    base = module.removesuffix("_grpc").removesuffix("_pb2")
    return f"from . import {module}" if f"{package}.{base}" in local else match.group(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed stubs, write nothing")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    files = generate()
    out: Path = args.out
    if args.check:
        drift = []
        existing = {p.name for p in out.glob("*.py*")} if out.is_dir() else set()
        for name in sorted(set(files) | existing):
            new = files.get(name)
            path = out / name
            old = path.read_text() if path.is_file() else None
            if old != new:
                drift.append(name)
                sys.stdout.writelines(
                    difflib.unified_diff(
                        (old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True),
                        f"committed/{name}", f"generated/{name}", n=1,
                    )
                )
        if drift:
            print(f"\nstubs out of date: {', '.join(drift)}; run scripts/gen_protos.py", file=sys.stderr)
            return 1
        print(f"{len(files)} generated files are current")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.py*"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (out / name).write_text(text)
    print(f"wrote {len(files)} files to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
