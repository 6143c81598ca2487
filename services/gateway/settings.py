"""Gateway settings: one pydantic-settings object, read from the environment and validated at start.

Every field reads ``TASKONOMY_<FIELD>`` (e.g. ``TASKONOMY_BROKER_URL``). API tokens come from
``TASKONOMY_API_TOKENS`` (comma-separated) and/or a mounted secret file named by
``TASKONOMY_API_TOKENS_FILE`` (one token per line, ``#`` comments allowed). With no token
configured the gateway still starts, but refuses every mutating call (and every read when
``reads_require_token`` is set).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.queue.redis_keys import DEFAULT_PREFIX
from services.queue.settings import DEFAULT_BROKER_URL, check_broker_url
from services.queue.tasknames import CONTROL_QUEUE, QUEUES
from taskonomy.errors import InvalidInputError
from taskonomy.store import store_scheme

#: Shortest token accepted: anything shorter is guessable.
MIN_TOKEN_LENGTH = 16


class GatewaySettings(BaseSettings):
    """Configuration of the REST gateway (env prefix ``TASKONOMY_``)."""

    model_config = SettingsConfigDict(env_prefix="TASKONOMY_", extra="ignore", validate_default=True)

    broker_url: str = Field(DEFAULT_BROKER_URL, description="Redis URL: Celery broker and state store")
    store_url: str = Field("./artifacts", description="artifact store (directory, file:// or s3:// URL)")
    solver_address: str = Field("127.0.0.1:50051", description="host:port of the solver gRPC service")
    api_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), description="bearer tokens accepted for mutating calls (comma-separated in the environment)")
    api_tokens_file: Path | None = Field(None, description="file holding one token per line (a mounted secret)")
    reads_require_token: bool = Field(False, description="require a token for reads too (GET, taxonomy queries)")
    state_prefix: str = Field(DEFAULT_PREFIX, min_length=1, description="key prefix of the state store in Redis")
    control_queue: str = Field(CONTROL_QUEUE, min_length=1, description="Celery queue that runs experiments")
    queues: Annotated[tuple[str, ...], NoDecode] = Field(
        default=QUEUES, description="Celery queues whose depth /metrics reports")
    cache_size: int = Field(256, ge=0, le=100_000, description="taxonomy answers kept in memory (0: no cache)")
    cache_ttl_s: float = Field(600.0, ge=0, description="seconds a cached taxonomy answer stays valid")
    solver_timeout_s: float = Field(30.0, gt=0, le=3600, description="deadline of one solver call")
    max_body_bytes: int = Field(
        6 * 1024 * 1024, ge=1024,
        description="largest request body accepted (413 above); fits a 5 MiB demo upload")
    kube_namespace: str | None = Field(None, description="namespace of the worker Deployments (default: own)")
    retry_after_s: int = Field(5, ge=1, le=3600, description="Retry-After of a 503 answer")
    max_split_images: int = Field(1_000_000, ge=1, description="most images in one split of a submitted experiment")
    dataset_roots: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="absolute directories (on the workers) that folder datasets may come from "
                                "(comma-separated; none: folder datasets are refused)")
    store_check_s: float = Field(30.0, ge=0, le=3600,
                                 description="seconds a successful check that the store can be written is trusted")

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return value

    @field_validator("broker_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        return check_broker_url(value, name=None)

    @field_validator("store_url")
    @classmethod
    def _store_url(cls, value: str) -> str:
        store_scheme(value)
        return value

    @field_validator("dataset_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(r.strip() for r in value.split(",") if r.strip())
        return value

    @field_validator("dataset_roots")
    @classmethod
    def _absolute_roots(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for root in value:
            if not root.startswith("/"):
                raise ValueError(f"every dataset root must be an absolute path, got {root!r}")
        return value

    @field_validator("queues", mode="before")
    @classmethod
    def _split_queues(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(q.strip() for q in value.split(",") if q.strip())
        return value

    @model_validator(mode="after")
    def _check_tokens(self) -> GatewaySettings:
        for secret in self.api_tokens:
            _check_token(secret.get_secret_value(), origin="TASKONOMY_API_TOKENS")
        if self.api_tokens_file is not None:
            if not self.api_tokens_file.is_file():
                raise ValueError(f"api_tokens_file: {str(self.api_tokens_file)!r} is not a readable file")
            for token in _read_token_file(self.api_tokens_file):
                _check_token(token, origin=f"api_tokens_file {str(self.api_tokens_file)!r}")
        return self

    def tokens(self) -> tuple[bytes, ...]:
        """Every accepted token, as UTF-8 bytes (the secret file is re-read, so a rotated secret
        takes effect without a restart)."""
        out = [t.get_secret_value() for t in self.api_tokens]
        if self.api_tokens_file is not None:
            try:
                out.extend(_read_token_file(self.api_tokens_file))
            except OSError:
                pass  # a secret being rotated: fall back to the environment's tokens
        return tuple(t.encode("utf-8") for t in out)


def _read_token_file(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _check_token(token: str, *, origin: str) -> None:
    # Never put the token itself into the message.
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"{origin}: every API token must have at least {MIN_TOKEN_LENGTH} characters")
    if any(c.isspace() for c in token) or not token.isprintable():
        raise ValueError(f"{origin}: API tokens must be printable and contain no whitespace")


def load_settings(**overrides: Any) -> GatewaySettings:
    """Settings from the environment plus ``overrides``; an invalid value is an InvalidInputError."""
    from pydantic import ValidationError

    try:
        return GatewaySettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors())
        raise InvalidInputError(f"gateway settings: {problems}") from None
