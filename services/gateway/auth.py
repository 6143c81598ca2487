"""Bearer API tokens: required for every mutating call, and for reads when configured.

- No ``Authorization`` header (or not ``Bearer``): 401 with ``WWW-Authenticate: Bearer``.
- A token that matches none of the configured ones: 403.
- No token configured at all: every call that needs one gets 403 (the gateway cannot
  authenticate anybody), so a forgotten secret never leaves the API open.

The presented token is compared with *every* configured token by :func:`hmac.compare_digest`
(constant time, no early exit), and never logged: :class:`RedactTokens` scrubs bearer tokens
and the configured tokens from every log record of the gateway and uvicorn loggers.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Iterable, Mapping

from fastapi import Request

from services.gateway.problems import ProblemError

_BEARER = re.compile(r"(?i)\bbearer\s+[^\s,;\"']+")
REDACTED = "[REDACTED]"
#: Loggers the redaction filter is installed on.
LOGGERS = ("services.gateway", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi")


def token_matches(presented: bytes, tokens: Iterable[bytes]) -> bool:
    """Whether ``presented`` equals one of ``tokens``, comparing with all of them in constant time."""
    ok = False
    for token in tokens:
        ok |= hmac.compare_digest(presented, token)
    return ok


def check_request(request: Request, *, tokens: tuple[bytes, ...]) -> None:
    """Raise a 401/403 problem unless the request carries one of ``tokens`` as a bearer token."""
    header = request.headers.get("authorization")
    if header is None or not header.strip():
        raise ProblemError(401, "unauthorized", "this call needs an API token: send 'Authorization: Bearer <token>'",
                           headers={"WWW-Authenticate": 'Bearer realm="taskonomy"'})
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ProblemError(401, "unauthorized", "the Authorization header must be 'Bearer <token>'",
                           headers={"WWW-Authenticate": 'Bearer realm="taskonomy", error="invalid_request"'})
    if not tokens:
        raise ProblemError(403, "forbidden", "no API token is configured on this gateway, so it refuses every "
                           "call that needs one (set TASKONOMY_API_TOKENS or TASKONOMY_API_TOKENS_FILE)")
    if not token_matches(value.strip().encode("utf-8"), tokens):
        raise ProblemError(403, "forbidden", "the API token is not valid",
                           headers={"WWW-Authenticate": 'Bearer realm="taskonomy", error="invalid_token"'})


class RedactTokens(logging.Filter):
    """Replace bearer tokens and the configured tokens in a log record by ``[REDACTED]``."""

    def __init__(self, tokens: Iterable[bytes] = ()) -> None:
        super().__init__()
        self.secrets = sorted({t.decode("utf-8", "replace") for t in tokens if t}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        text = _BEARER.sub("Bearer " + REDACTED, text)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _redact_value(self, value: object) -> object:
        text = value if isinstance(value, str) else str(value)
        clean = self.redact(text)
        return value if clean == text else clean

    def _redact_args(self, args: tuple[object, ...] | Mapping[str, object] | None
                     ) -> tuple[object, ...] | Mapping[str, object] | None:
        if isinstance(args, tuple):
            return tuple(self._redact_value(a) for a in args)
        if isinstance(args, Mapping):
            return {k: self._redact_value(v) for k, v in args.items()}
        return args

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler
            return True
        redacted = self.redact(message)
        if redacted != message:
            # Redact the arguments one by one and keep them: formatters such as uvicorn's access
            # formatter unpack ``record.args`` and fail (printing a traceback) on ``None``.
            record.msg = self.redact(record.msg) if isinstance(record.msg, str) else record.msg
            record.args = self._redact_args(record.args)
            try:
                leaked = self.redact(record.getMessage()) != record.getMessage()
            except Exception:
                leaked = True
            if leaked:  # a secret spread over several arguments: keep only the redacted text
                record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def install_redaction(tokens: Iterable[bytes]) -> RedactTokens:
    """Install (or refresh) the redaction filter on the gateway and uvicorn loggers and on their and
    the root logger's handlers (records of child loggers reach handlers, not logger filters)."""
    filt = RedactTokens(tokens)
    loggers = [logging.getLogger(name) for name in LOGGERS]
    targets: list[logging.Filterer] = [*loggers, *logging.getLogger().handlers]
    targets.extend(h for lg in loggers for h in lg.handlers)
    for target in targets:
        for old in [f for f in target.filters if isinstance(f, RedactTokens)]:
            target.removeFilter(old)
        target.addFilter(filt)
    return filt
