"""A Python client of the solver service, with deadlines and retries on UNAVAILABLE.

Used by the gateway (which never imports torch: neither does this module) and by the
experiment's finalize job when a solver address is configured::

    with SolverClient("solver:50051", timeout_s=30) as solver:
        sol = solver.solve_taxonomy("paper-16k", TaxonomyProblem(budget=8))
        sol["roots"], sol["objective"]

Results are plain JSON-ready dicts: a solution has the keys of
``taskonomy.selection.TaxonomySolution.to_dict()`` (``status``, ``objective``, ``roots``,
``edges`` — each ``{target, sources, affinity, gain, quality}`` —, ``solve_time_s``, ``reason``)
plus ``budget``. Problems may be given as a core ``TaxonomyProblem`` or as a mapping with the
same field names (absent = default).

Status codes become the core's exceptions again, with the server's message:
INVALID_ARGUMENT -> InvalidInputError, NOT_FOUND -> NotFoundError, FAILED_PRECONDITION ->
PreconditionError, DATA_LOSS -> CorruptArtifactError. UNAVAILABLE (a server down, restarting or
busy) is retried by gRPC's own retry policy (the channel's service config: exponential
backoff with jitter, within the call's deadline, at most 5 attempts), then raised as
:class:`SolverUnavailableError`; an expired deadline raises :class:`SolverTimeoutError` (both are
OSErrors, so the CLI reports them in one line); anything else raises :class:`SolverError`. Each
call's latency is recorded in the ``taskonomy_solver_request_duration_seconds`` histogram by method.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.metric_catalog import SOLVER_LATENCY
from services.solver import convert
from services.solver.convert import CANDIDATE_VALUES, MAX_MESSAGE_BYTES
from services.solver.generated import solver_pb2 as pb
from services.solver.generated import solver_pb2_grpc as pb_grpc
from taskonomy.affinity import TargetAffinity, TransferTable
from taskonomy.errors import CorruptArtifactError, InvalidInputError, NotFoundError, PreconditionError, TaskonomyError
from taskonomy.selection import TaxonomyProblem

log = logging.getLogger(__name__)
#: gRPC's ceiling on the attempts of its retry policy.
MAX_ATTEMPTS = 5
_RETRYABLE = ("UNAVAILABLE",)
_ERRORS: dict[grpc.StatusCode, type[TaskonomyError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInputError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: PreconditionError,
    grpc.StatusCode.DATA_LOSS: CorruptArtifactError,
}
T = TypeVar("T")


class SolverUnavailableError(ConnectionError):
    """The solver could not be reached (UNAVAILABLE after every retry). HTTP: 503."""


class SolverTimeoutError(TimeoutError):
    """The call's deadline expired (DEADLINE_EXCEEDED). HTTP: 504."""


class SolverError(RuntimeError):
    """The solver failed in a way the caller cannot fix (INTERNAL, UNKNOWN, ...). HTTP: 502."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"solver error {code.name}: {message}")
        self.code = code


class SolverClient:
    """Client of ``taskonomy.solver.v1.SolverService`` (thread-safe; one channel per client).

    ``timeout_s`` is each call's total deadline, retries included; ``retries`` is how many times
    a call that got UNAVAILABLE is tried again (at most 4: gRPC's ceiling),
    after a random pause of up to ``backoff_s``, doubling each time (gRPC's retry policy).
    """

    def __init__(
        self,
        address: str,
        *,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.1,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        if timeout_s <= 0:
            raise InvalidInputError(f"timeout_s: must be > 0, got {timeout_s}")
        if retries < 0:
            raise InvalidInputError(f"retries: must be >= 0, got {retries}")
        self.address = address
        self.timeout_s = timeout_s
        self.retries = min(retries, MAX_ATTEMPTS - 1)
        self.backoff_s = backoff_s
        self._channel = grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
                # reconnect about as fast as we retry (gRPC's default first backoff is 1 s)
                ("grpc.initial_reconnect_backoff_ms", max(20, int(1000 * backoff_s))),
                ("grpc.min_reconnect_backoff_ms", max(20, int(1000 * backoff_s))),
                ("grpc.max_reconnect_backoff_ms", 10_000),
                ("grpc.enable_retries", 1),
                ("grpc.service_config", json.dumps(retry_service_config(self.retries, backoff_s))),
            ],
        )
        self._stub = pb_grpc.SolverServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> SolverClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------------- calls

    def solve_taxonomy(
        self,
        table: str | TransferTable,
        problem: TaxonomyProblem | Mapping[str, Any] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Solve one problem over a built-in table (by name) or a table sent inline."""
        request = pb.SolveTaxonomyRequest(problem=convert.problem_to_proto(problem))
        _set_table(request, table)
        response: pb.SolveTaxonomyResponse = self._call("SolveTaxonomy", self._stub.SolveTaxonomy, request, timeout_s)
        return convert.solution_to_dict(response.solution)

    def sweep_budgets(
        self,
        table: str | TransferTable,
        problem: TaxonomyProblem | Mapping[str, Any] | None = None,
        budgets: Sequence[float] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[dict[str, Any]]:
        """Solve the problem for each budget (``None``: the core's default sweep), in order."""
        request = pb.SweepBudgetsRequest(problem=convert.problem_to_proto(problem), budgets=list(budgets or ()))
        _set_table(request, table)
        response: pb.SweepBudgetsResponse = self._call("SweepBudgets", self._stub.SweepBudgets, request, timeout_s)
        return [convert.solution_to_dict(s) for s in response.solutions]

    def compute_affinity(
        self,
        targets: Sequence[Mapping[str, Any]],
        *,
        bootstrap: int = 0,
        seed: int = 0,
        confidence: float = 0.95,
        timeout_s: float | None = None,
    ) -> list[dict[str, Any]]:
        """AHP over each target's candidates.

        Each target is ``{"target": name, "candidates": [{"sources": [...], "kind": "first_order",
        "losses": [...]} or {..., "win_rates": [...]}, ...]}`` (kinds as in
        ``taskonomy.tasks.KINDS``; ``losses`` may be a numpy row, NaN = missing). Returns, per
        target, ``{"target", "consistency_ratio", "candidates": [{"sources", "kind", "win_rates",
        "affinity", "gain", "quality", and with bootstrap "affinity_low", "affinity_high",
        "gain_low", ... }]}``, in request order, with ``None`` for absent values.
        """
        request = pb.ComputeAffinityRequest(bootstrap=bootstrap, seed=seed, confidence=confidence)
        for t, target in enumerate(targets):
            msg = request.targets.add(target=str(target["target"]))
            for i, cand in enumerate(target["candidates"]):
                kind = str(cand.get("kind", ""))
                if kind not in convert.KINDS:
                    raise InvalidInputError(
                        f"targets[{t}].candidates[{i}].kind: unknown {kind!r}; allowed: {', '.join(convert.KINDS)}"
                    )
                c = msg.candidates.add(sources=list(cand.get("sources", ())), kind=convert.kind_to_proto(kind))
                for name in ("losses", "win_rates"):
                    if cand.get(name) is not None:
                        getattr(c, name).extend(np.asarray(cand[name], dtype=np.float64).ravel().tolist())
        response: pb.ComputeAffinityResponse = self._call(
            "ComputeAffinity", self._stub.ComputeAffinity, request, timeout_s
        )
        return [
            {
                "target": t.target,
                "consistency_ratio": t.consistency_ratio,
                "candidates": [
                    {
                        "sources": list(c.sources),
                        "kind": convert.kind_from_proto(c.kind, field="kind"),
                        "win_rates": list(c.win_rates),
                        **{name: getattr(c, name) if c.HasField(name) else None for name in CANDIDATE_VALUES},
                    }
                    for c in t.candidates
                ],
            }
            for t in response.targets
        ]

    def target_affinity(
        self,
        losses: np.ndarray,
        *,
        self_index: int | None,
        pixels_index: int | None,
        bootstrap: int = 0,
        seed: int = 0,
        confidence: float = 0.95,
        timeout_s: float | None = None,
    ) -> TargetAffinity:
        """Drop-in for :func:`taskonomy.affinity.target_affinity`, computed by the service.

        Same arguments (``losses``: candidates x images) and the same result, value for value
        (except ``win_rates_low/high``, which are not sent); for the pipeline's finalize job when a
        solver address is configured.
        """
        arr = np.asarray(losses, dtype=np.float64)
        if arr.ndim != 2:
            raise InvalidInputError(f"losses: must be a 2-D array (candidates x images), got shape {arr.shape}")
        n = arr.shape[0]
        for name, index in (("self_index", self_index), ("pixels_index", pixels_index)):
            if index is not None and not 0 <= index < n:
                raise InvalidInputError(f"{name}: must be a row index in [0, {n}), got {index}")
        kinds = ["first_order"] * n  # only the two baselines' kinds matter to the computation
        if self_index is not None:
            kinds[self_index] = "self_full_supervision"
        if pixels_index is not None:
            kinds[pixels_index] = "pixels_scratch_baseline"
        target = {"target": "target", "candidates": [
            {"sources": [f"candidate{i}"], "kind": kinds[i], "losses": arr[i]} for i in range(n)
        ]}
        [out] = self.compute_affinity([target], bootstrap=bootstrap, seed=seed, confidence=confidence,
                                      timeout_s=timeout_s)
        cands = out["candidates"]

        def column(name: str) -> np.ndarray | None:
            values = [c[name] for c in cands]
            if all(v is None for v in values):
                return None
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        result = TargetAffinity(
            affinity=np.array([np.nan if c["affinity"] is None else c["affinity"] for c in cands]),
            gain=column("gain") if pixels_index is not None else None,
            quality=column("quality") if self_index is not None else None,
            win_rates=np.array([c["win_rates"] for c in cands], dtype=np.float64),
            consistency_ratio=float(out["consistency_ratio"]),
            bootstrap=int(bootstrap),
            confidence=confidence,
        )
        if bootstrap:
            for name in ("affinity_low", "affinity_high", "gain_low", "gain_high", "quality_low", "quality_high"):
                setattr(result, name, column(name))
        return result

    def health(self, service: str = "", *, timeout_s: float | None = None) -> str:
        """The server's health status name (``SERVING``, ``NOT_SERVING``, ...) for ``service``
        (``""``: the whole server). One attempt, no retries."""
        request = health_pb2.HealthCheckRequest(service=service)
        try:
            reply = self._health.Check(request, timeout=timeout_s or self.timeout_s)
        except grpc.RpcError as exc:
            raise _error(exc, address=self.address, attempts=1) from None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, fn: Callable[..., T], request: Any, timeout_s: float | None) -> T:
        start = time.perf_counter()
        try:
            return fn(request, timeout=timeout_s or self.timeout_s)
        except grpc.RpcError as exc:
            raise _error(exc, address=self.address, attempts=self.retries + 1) from None
        finally:
            SOLVER_LATENCY.labels(method=method).observe(time.perf_counter() - start)


def retry_service_config(retries: int, backoff_s: float) -> dict[str, Any]:
    """The channel's service config: gRPC retries UNAVAILABLE calls of the solver service
    ``retries`` times (at most 4), after a random pause of up to ``backoff_s`` doubling each time,
    within each call's deadline."""
    if retries <= 0:
        return {"methodConfig": []}
    return {"methodConfig": [{
        "name": [{"service": pb.DESCRIPTOR.services_by_name["SolverService"].full_name}],
        "retryPolicy": {
            "maxAttempts": min(MAX_ATTEMPTS, retries + 1),
            "initialBackoff": f"{max(backoff_s, 0.001):.3f}s",
            "maxBackoff": f"{max(backoff_s * 16, 1.0):.3f}s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": list(_RETRYABLE),
        },
    }]}


def _set_table(request: pb.SolveTaxonomyRequest | pb.SweepBudgetsRequest, table: str | TransferTable) -> None:
    if isinstance(table, str):
        request.table_name = table
    else:
        request.transfer_table.CopyFrom(convert.table_to_proto(table))


def _error(exc: grpc.RpcError, *, address: str, attempts: int) -> Exception:
    code: grpc.StatusCode = exc.code()
    details: str = exc.details() or ""
    if code in _ERRORS:
        return _ERRORS[code](details)
    if code == grpc.StatusCode.UNAVAILABLE:
        tries = f"after up to {attempts} attempts" if attempts > 1 else "(1 attempt)"
        return SolverUnavailableError(f"solver at {address} unavailable {tries}: {details}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return SolverTimeoutError(f"solver at {address}: deadline exceeded: {details}")
    return SolverError(code, details)
