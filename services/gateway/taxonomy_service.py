"""Transfer tables by name (built-in published tables or finished experiments) and cached
taxonomy answers from the solver service.

A table name is one of :data:`taskonomy.affinity.BUILTIN_TABLES` or an experiment id whose
record holds ``result["transfers"]`` (the artifact key of its transfer table). Artifact keys are
content-addressed, so a loaded table never changes and answers can be cached by
``(table identity, canonical problem)`` with a size bound and a time to live.
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from services.gateway.problems import ProblemError, ServiceUnavailable
from services.gateway.settings import GatewaySettings
from services.metric_catalog import TAXONOMY_QUERIES
from services.queue.state import ExperimentStateStore
from services.solver.client import SolverClient, SolverError, SolverTimeoutError, SolverUnavailableError
from taskonomy.affinity import BUILTIN_TABLES, TransferTable, load_table
from taskonomy.contract.keys import canonical_json
from taskonomy.errors import NotFoundError, PreconditionError
from taskonomy.store import ArtifactStore

#: Tables loaded from the artifact store kept in memory (they are immutable).
_TABLE_CACHE_SIZE = 16


class TtlCache:
    """A thread-safe LRU cache whose entries expire ``ttl_s`` seconds after they were stored."""

    def __init__(self, *, size: int, ttl_s: float) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            stored, value = item
            if self.ttl_s and time.monotonic() - stored > self.ttl_s:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = (time.monotonic(), value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def _read_table_bytes(data: bytes) -> TransferTable:
    """A table artifact in any of the table formats (parquet, JSON or CSV), told by its content."""
    if data[:4] == b"PAR1":
        return TransferTable.read(io.BytesIO(data), format="parquet")
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        return TransferTable.read(io.BytesIO(data), format="json")
    return TransferTable.read(io.BytesIO(data), format="csv")


class Backends(Protocol):
    """What the service reads: settings, experiment records, artifact stores and the solver (the
    gateway's context provides them)."""

    @property
    def settings(self) -> GatewaySettings: ...

    @property
    def state(self) -> ExperimentStateStore: ...

    @property
    def solver(self) -> SolverClient: ...

    def artifacts_at(self, url: str) -> ArtifactStore: ...


class TaxonomyService:
    def __init__(self, ctx: Backends) -> None:
        self.ctx = ctx
        self.answers = TtlCache(size=ctx.settings.cache_size, ttl_s=ctx.settings.cache_ttl_s)
        self.tables = TtlCache(size=_TABLE_CACHE_SIZE, ttl_s=0)

    # -- tables ------------------------------------------------------------------------------
    def experiment_table_key(self, experiment_id: str) -> str:
        """The artifact key of a finished experiment's transfer table (``result["table"]``, or
        ``result["transfers"]``)."""
        record = self.ctx.state.get(experiment_id)
        if record is None:
            raise NotFoundError(f"no experiment {experiment_id!r} (and not a built-in table: "
                                f"{', '.join(BUILTIN_TABLES)})")
        result = record.result if isinstance(record.result, dict) else {}
        key = result.get("table") or result.get("transfers")
        if not isinstance(key, str) or not key:
            raise PreconditionError(f"experiment {experiment_id!r} has no transfer table yet (state "
                                    f"{record.state}); it is written when the experiment succeeds")
        return key

    def experiment_table(self, experiment_id: str) -> tuple[str, TransferTable]:
        key = self.experiment_table_key(experiment_id)
        table = self.tables.get(key)
        if table is None:
            record = self.ctx.state.get(experiment_id)
            store_url = record.result.get("store") if record is not None else None
            store = self.ctx.artifacts_at(store_url if isinstance(store_url, str) and store_url
                                          else self.ctx.settings.store_url)
            try:
                data = store.get_bytes(key)
            except NotFoundError:
                raise PreconditionError(f"experiment {experiment_id!r}: its transfer table {key!r} is missing "
                                        "from the artifact store") from None
            except OSError as exc:
                raise ServiceUnavailable(f"the artifact store cannot be read: {exc}",
                                         retry_after_s=self.ctx.settings.retry_after_s) from None
            table = _read_table_bytes(data)
            self.tables.put(key, table)
        return key, table

    def table(self, name: str) -> tuple[str, TransferTable]:
        """``(identity, table)`` for a built-in table name or an experiment id."""
        if name in BUILTIN_TABLES:
            return f"builtin:{name}", load_table(name)
        return self.experiment_table(name)

    # -- taxonomy ----------------------------------------------------------------------------
    def solve(self, table_name: str, problem: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The solver's answer for ``problem`` over ``table_name``, and whether it came from the cache."""
        builtin = table_name in BUILTIN_TABLES
        identity = f"builtin:{table_name}" if builtin else "artifact:" + self.experiment_table_key(table_name)
        # role lists are sets: their order does not change the answer
        key_fields = {k: sorted(v) if k in ("targets", "source_only", "target_only") and v is not None else v
                      for k, v in problem.items()}
        cache_key = (identity, canonical_json(key_fields))
        cached = self.answers.get(cache_key)
        if cached is not None:
            TAXONOMY_QUERIES.labels(cache="hit").inc()
            return dict(cached), True
        send: str | TransferTable = table_name if builtin else self.experiment_table(table_name)[1]
        try:
            answer = self.ctx.solver.solve_taxonomy(send, problem)
        except SolverUnavailableError as exc:
            raise ServiceUnavailable(f"the solver service is unavailable: {exc}",
                                     retry_after_s=self.ctx.settings.retry_after_s) from None
        except SolverTimeoutError as exc:
            raise ProblemError(504, "solver-timeout", f"the solver did not answer in time: {exc}") from None
        except SolverError as exc:
            raise ProblemError(502, "solver-error", f"the solver failed: {exc}") from None
        TAXONOMY_QUERIES.labels(cache="miss").inc()
        self.answers.put(cache_key, dict(answer))
        return answer, False
