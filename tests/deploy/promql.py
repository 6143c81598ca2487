"""A small PromQL reader for tests: which metric names does an expression select?

Not a full parser: it removes what cannot be a metric name (string literals, label matchers,
range and subquery brackets, grouping clauses such as ``by (le, kind)``, Grafana variables)
and keeps the identifiers that are neither function calls nor PromQL keywords.
A ``{__name__="..."}`` matcher counts as a selected name.
"""

from __future__ import annotations

import re

KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
     "inf", "nan", "atan2", "start", "end"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(
    r"(?P<number>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:ms|s|m|h|d|w|y)?)"
    r"|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)(?P<call>\s*\()?"
)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (``rate(x_total[5m])`` -> ``{"x_total"}``)."""
    names = {match.group(1)[1:-1] for match in _NAME_MATCHER.finditer(expr)}
    text = _GRAFANA_VAR.sub(" ", expr)
    text = _STRING.sub('""', text)
    previous = None
    while previous != text:  # nested brackets such as [5m:1m] inside subqueries
        previous = text
        text = _MATCHERS.sub(" ", text)
        text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    for token in _TOKEN.finditer(text):
        ident = token.group("ident")
        if ident is None or token.group("call") or ident.lower() in KEYWORDS:
            continue
        names.add(ident)
    return names
