"""An AST scan for deserialisation that can run code: pickle-family loads, ``torch.load`` without
``weights_only=True``, ``np.load(allow_pickle=True)``, ``yaml.load`` without a safe loader, and
Celery configured to accept or send anything but JSON.

Used by ``tests/security/test_unsafe_loads.py`` over ``taskonomy/``, ``services/`` and
``benchmarks/`` (and, to prove it can fail, over planted examples).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

#: Modules whose loading functions unpickle (or unmarshal) their input.
PICKLE_MODULES = frozenset({"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve",
                            "jsonpickle"})
PICKLE_FUNCS = frozenset({"load", "loads", "Unpickler", "open", "DbfilenameShelf", "decode"})
#: Library calls that unpickle by design.
ALWAYS_UNSAFE = frozenset({"read_pickle", "from_pickle"})
SAFE_YAML_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})
CELERY_CONTENT_KEYS = frozenset({"accept_content", "result_accept_content", "CELERY_ACCEPT_CONTENT"})
CELERY_SERIALIZER_KEYS = frozenset({"task_serializer", "result_serializer", "event_serializer",
                                    "CELERY_TASK_SERIALIZER", "CELERY_RESULT_SERIALIZER"})


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain, '' otherwise."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _is_const(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _strings(node: ast.AST) -> list[str] | None:
    """The string elements of a literal list/tuple/set (None when it is not such a literal)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        out = []
        for elt in node.elts:
            if not (isinstance(elt, ast.Constant) and isinstance(elt.value, str)):
                return None
            out.append(elt.value)
        return out
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []
        #: local name -> module it stands for (``import pickle as p``, ``from pickle import loads``)
        self.aliases: dict[str, str] = {}

    def add(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), what))

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        for a in node.names:
            self.aliases[a.asname or a.name] = f"{mod}.{a.name}"
            if mod.split(".")[0] in PICKLE_MODULES and a.name in PICKLE_FUNCS:
                self.add(node, f"imports {mod}.{a.name} (unpickling)")

    def _resolve(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        base = self.aliases.get(head, head)
        return f"{base}.{rest}" if rest else base

    def visit_Call(self, node: ast.Call) -> None:
        name = self._resolve(_dotted(node.func))
        parts = name.split(".")
        last = parts[-1] if parts else ""
        if parts and parts[0] in PICKLE_MODULES and last in PICKLE_FUNCS:
            self.add(node, f"{name}(...) unpickles its input")
        elif last in ALWAYS_UNSAFE:
            self.add(node, f"{name}(...) unpickles its input")
        elif name in ("torch.load", "torch.serialization.load"):
            if not _is_const(_kw(node, "weights_only"), True):
                self.add(node, f"{name}(...) without weights_only=True")
        elif name in ("numpy.load", "np.load") or (parts[0] in ("numpy", "np") and last == "load"):
            allow = _kw(node, "allow_pickle")
            if allow is not None and not _is_const(allow, False):
                self.add(node, f"{name}(...) with allow_pickle other than False")
        elif name in ("yaml.load", "yaml.load_all"):
            loader = _kw(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
            if loader is None or _dotted(loader).split(".")[-1] not in SAFE_YAML_LOADERS:
                self.add(node, f"{name}(...) without a safe Loader")
        elif name in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all", "yaml.full_load_all"):
            self.add(node, f"{name}(...) can build arbitrary objects")
        for kw in node.keywords:  # app.conf.update(accept_content=[...]) / Celery(..., task_serializer=...)
            if kw.arg is not None:
                self._celery_setting(kw.value, kw.arg, node)
        self.generic_visit(node)

    def _celery_setting(self, value: ast.AST, key: str, node: ast.AST) -> None:
        if key in CELERY_CONTENT_KEYS:
            strings = _strings(value)
            if strings is None or any(s not in ("json", "application/json") for s in strings):
                self.add(node, f"Celery {key} is not JSON only")
        elif key in CELERY_SERIALIZER_KEYS:
            strings = _strings(value)
            if strings is None or strings != ["json"]:
                self.add(node, f"Celery {key} is not 'json'")

    def visit_Dict(self, node: ast.Dict) -> None:
        for k, v in zip(node.keys, node.values, strict=True):
            if isinstance(k, ast.Constant) and isinstance(k.value, str):
                self._celery_setting(v, k.value, node)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:  # app.conf.accept_content = [...]
            if isinstance(target, ast.Attribute | ast.Name):
                key = target.attr if isinstance(target, ast.Attribute) else target.id
                if key in CELERY_CONTENT_KEYS | CELERY_SERIALIZER_KEYS:
                    self._celery_setting(node.value, key, node)
        self.generic_visit(node)


def scan_source(source: str, path: str = "<string>") -> list[Finding]:
    scanner = _Scanner(path)
    scanner.visit(ast.parse(source, filename=path))
    return scanner.findings


def scan_tree(*roots: Path) -> list[Finding]:
    """Findings in every ``*.py`` file under ``roots`` (generated gRPC stubs included)."""
    findings: list[Finding] = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            findings.extend(scan_source(path.read_text(encoding="utf-8"), str(path)))
    return findings
