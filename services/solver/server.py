"""The gRPC solver server: a thin adapter over ``taskonomy.affinity`` and ``taskonomy.selection``.

``create_server(address) -> (server, port)`` builds a server (bind ``127.0.0.1:0`` in tests),
``serve()`` runs one until SIGTERM/SIGINT. Beside ``taskonomy.solver.v1.SolverService`` the
server runs the standard ``grpc.health.v1.Health`` service (what Kubernetes' ``grpc:`` probes
speak): SERVING once started, NOT_SERVING as soon as a graceful stop begins, so that load
balancers stop sending work while in-flight calls finish.

Solves never starve the health service: they run in their own executor of ``max_workers``
threads (:class:`SolveSlots`), and the gRPC server keeps threads beyond every solve it admits
(running or queued) for the health checks, so a probe answers within its deadline under any
load. A solve arriving when ``max_queued`` are already waiting is refused with UNAVAILABLE
("busy"), which clients retry.

Errors are mapped once, in :func:`_rpc`: the core's InvalidInputError -> INVALID_ARGUMENT,
NotFoundError -> NOT_FOUND, PreconditionError -> FAILED_PRECONDITION, CorruptArtifactError ->
DATA_LOSS, each with the core's message; anything else -> INTERNAL with a generic message (the
traceback goes to the log). An infeasible taxonomy problem is an answer (status INFEASIBLE).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.solver import convert
from services.solver.convert import CANDIDATE_VALUES, MAX_MESSAGE_BYTES
from services.solver.generated import solver_pb2 as pb
from services.solver.generated import solver_pb2_grpc as pb_grpc
from taskonomy import affinity, selection
from taskonomy.errors import (
    CorruptArtifactError,
    InvalidInputError,
    NotFoundError,
    PreconditionError,
    TaskonomyError,
    did_you_mean,
)

log = logging.getLogger(__name__)

#: Full name of the solver service (also a health-check service name).
SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["SolverService"].full_name
DEFAULT_PORT = 50051
#: Threads of the gRPC server kept for the health service beyond every admitted solve.
HEALTH_THREADS = 4
#: Solves that may wait for a solve thread, per solve thread (beyond: UNAVAILABLE, busy).
QUEUED_PER_WORKER = 4

_STATUS: dict[type[TaskonomyError], grpc.StatusCode] = {
    InvalidInputError: grpc.StatusCode.INVALID_ARGUMENT,
    NotFoundError: grpc.StatusCode.NOT_FOUND,
    PreconditionError: grpc.StatusCode.FAILED_PRECONDITION,
    CorruptArtifactError: grpc.StatusCode.DATA_LOSS,
}

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.ServicerContext], Resp]


def status_for(exc: TaskonomyError) -> grpc.StatusCode:
    """The canonical code of a core error (the most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return grpc.StatusCode.INVALID_ARGUMENT


class _Abort(Exception):
    """End the call with ``code`` and ``message`` (raised where no servicer context is at hand)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _rpc(fn: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """Run one RPC: map core errors to canonical status codes, log the rest as INTERNAL."""
    method = fn.__name__

    @wraps(fn)
    def wrapper(self: Any, request: Req, context: grpc.ServicerContext) -> Resp:
        start = time.perf_counter()
        try:
            response = fn(self, request, context)
        except _Abort as exc:
            log.info("%s -> %s: %s", method, exc.code.name, exc.message)
            context.abort(exc.code, exc.message)
        except TaskonomyError as exc:
            code = status_for(exc)
            log.info("%s -> %s: %s", method, code.name, exc)
            context.abort(code, str(exc))
        except Exception:
            log.exception("%s failed unexpectedly", method)
            context.abort(grpc.StatusCode.INTERNAL, f"{method}: internal error in the solver (see its log)")
        log.debug("%s ok in %.1f ms", method, 1e3 * (time.perf_counter() - start))
        return response

    return wrapper


def _table(request: pb.SolveTaxonomyRequest | pb.SweepBudgetsRequest) -> affinity.TransferTable:
    which = request.WhichOneof("table")
    if which == "table_name":
        name = request.table_name
        # Only built-in names: a remote caller must not make the server read its own files.
        if name not in affinity.BUILTIN_TABLES:
            raise NotFoundError(f"table_name: unknown built-in table {did_you_mean(name, affinity.BUILTIN_TABLES)}")
        return affinity.load_table(name)  # parsed once per process
    if which == "transfer_table":
        return convert.table_from_proto(request.transfer_table)
    raise InvalidInputError(
        f"table: set table_name (one of {', '.join(affinity.BUILTIN_TABLES)}) or transfer_table"
    )


@contextmanager
def _problem_fields() -> Iterator[None]:
    """Give the core's ``targets: ...``-style messages their request path (``problem.targets: ...``)."""
    try:
        yield
    except InvalidInputError as exc:
        message = str(exc)
        if message.split(":", 1)[0].split("[", 1)[0].split(",", 1)[0] in convert.PROBLEM_FIELDS:
            raise InvalidInputError(f"problem.{message}") from None
        raise


def _target_stats(item: convert.AffinityInput, *, bootstrap: int, seed: int,
                  confidence: float) -> affinity.TargetAffinity:
    """The core's statistics of one target, from losses or from a given win-rate matrix."""
    if item.losses is not None:
        return affinity.target_affinity(item.losses, self_index=item.self_index, pixels_index=item.pixels_index,
                                        bootstrap=bootstrap, seed=seed, confidence=confidence)
    W = item.win_rates
    assert W is not None
    n = W.shape[0]
    tour = np.array([i for i in range(n) if i != item.pixels_index])
    aff = np.full(n, np.nan)
    aff[tour], cr = affinity.ahp_with_consistency(W[np.ix_(tour, tour)])
    return affinity.TargetAffinity(
        affinity=aff,
        gain=None if item.pixels_index is None else W[:, item.pixels_index].copy(),
        quality=None if item.self_index is None else W[:, item.self_index].copy(),
        win_rates=W,
        consistency_ratio=cr,
    )


class SolveSlots:
    """The solver's own executor: ``workers`` threads run solves, ``queued`` more may wait; a
    call beyond that is refused at once (UNAVAILABLE: busy), so the gRPC server's threads
    beyond ``workers + queued`` always remain for the health service."""

    def __init__(self, *, workers: int, queued: int) -> None:
        self.capacity = workers + queued
        self._free = threading.BoundedSemaphore(self.capacity)
        self._pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="solve")

    def run(self, fn: Callable[[], Resp], context: grpc.ServicerContext) -> Resp:
        if not self._free.acquire(blocking=False):
            raise _Abort(grpc.StatusCode.UNAVAILABLE,
                         f"solver busy: {self.capacity} solves running or queued; retry later")
        try:
            future = self._pool.submit(fn)
        except RuntimeError:  # shutting down
            self._free.release()
            raise _Abort(grpc.StatusCode.UNAVAILABLE, "the solver is shutting down") from None
        future.add_done_callback(lambda _f: self._free.release())
        try:
            return future.result(timeout=context.time_remaining())
        except futures.TimeoutError:
            future.cancel()  # not started yet: dropped; running: finishes, its answer unread
            raise _Abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the call's deadline passed while solving") from None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class SolverServicer(pb_grpc.SolverServiceServicer):
    """The three RPCs: parse and validate, call one core function (in the solve executor), convert back."""

    def __init__(self, slots: SolveSlots) -> None:
        self.slots = slots

    @_rpc
    def ComputeAffinity(  # noqa: N802 (gRPC method names)
        self, request: pb.ComputeAffinityRequest, context: grpc.ServicerContext
    ) -> pb.ComputeAffinityResponse:
        return self.slots.run(lambda: self._compute_affinity(request), context)

    def _compute_affinity(self, request: pb.ComputeAffinityRequest) -> pb.ComputeAffinityResponse:
        inputs = convert.affinity_inputs_from_proto(request)
        confidence = request.confidence if request.HasField("confidence") else 0.95
        response = pb.ComputeAffinityResponse()
        for item in inputs:
            stats = _target_stats(item, bootstrap=int(request.bootstrap), seed=int(request.seed),
                                  confidence=confidence)
            out = response.targets.add(target=item.target, consistency_ratio=float(stats.consistency_ratio))
            for i, (sources, kind) in enumerate(zip(item.sources, item.kinds, strict=True)):
                c = out.candidates.add(
                    sources=list(sources), kind=convert.kind_to_proto(kind),
                    win_rates=stats.win_rates[i].tolist(),
                )
                for name in CANDIDATE_VALUES:
                    values = getattr(stats, name)
                    if values is not None and np.isfinite(values[i]):
                        setattr(c, name, float(values[i]))
        return response

    @_rpc
    def SolveTaxonomy(  # noqa: N802
        self, request: pb.SolveTaxonomyRequest, context: grpc.ServicerContext
    ) -> pb.SolveTaxonomyResponse:
        return self.slots.run(lambda: self._solve_taxonomy(request), context)

    def _solve_taxonomy(self, request: pb.SolveTaxonomyRequest) -> pb.SolveTaxonomyResponse:
        problem = convert.problem_from_proto(request.problem if request.HasField("problem") else None)
        table = _table(request)
        with _problem_fields():
            solution = selection.solve_taxonomy(table, problem)
        return pb.SolveTaxonomyResponse(solution=convert.solution_to_proto(solution))

    @_rpc
    def SweepBudgets(  # noqa: N802
        self, request: pb.SweepBudgetsRequest, context: grpc.ServicerContext
    ) -> pb.SweepBudgetsResponse:
        return self.slots.run(lambda: self._sweep_budgets(request), context)

    def _sweep_budgets(self, request: pb.SweepBudgetsRequest) -> pb.SweepBudgetsResponse:
        problem = convert.problem_from_proto(request.problem if request.HasField("problem") else None)
        budgets = convert.budgets_from_proto(request.budgets)
        table = _table(request)
        with _problem_fields():
            solutions = selection.sweep_budgets(table, problem, budgets)
        return pb.SweepBudgetsResponse(solutions=[convert.solution_to_proto(s) for s in solutions])


class SolverServer:
    """A started-or-not gRPC server with its health service; ``stop`` drains gracefully.

    Use :func:`create_server` to build one.
    """

    def __init__(self, server: grpc.Server, health_servicer: health.HealthServicer, *, drain_s: float,
                 slots: SolveSlots | None = None) -> None:
        self.server = server
        self.health = health_servicer
        self.drain_s = drain_s
        self.slots = slots
        self._stopping = threading.Event()

    def start(self) -> None:
        self.server.start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float | None = 5.0) -> threading.Event:
        """Graceful stop: health NOT_SERVING first, wait ``drain_s``, then refuse new calls and
        give in-flight ones up to ``grace`` seconds. Returns an event set once stopped."""
        if not self._stopping.is_set():
            self._stopping.set()
            self.health.enter_graceful_shutdown()
            log.info("solver: NOT_SERVING, draining for %.1f s, then %s s of grace", self.drain_s, grace)
            if self.drain_s > 0:
                time.sleep(self.drain_s)
        stopped = self.server.stop(grace)
        if self.slots is not None:
            slots = self.slots

            def release() -> None:
                stopped.wait()
                slots.shutdown()

            threading.Thread(target=release, name="solve-executor-stop", daemon=True).start()
        return stopped

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self.server.wait_for_termination(timeout)


def create_server(
    address: str = f"[::]:{DEFAULT_PORT}",
    *,
    max_workers: int | None = None,
    max_queued: int | None = None,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    drain_s: float = 0.0,
    reuse_port: bool = False,
) -> tuple[SolverServer, int]:
    """Build a solver server bound to ``address`` (``host:0`` picks a free port); not started.

    ``max_workers`` sizes the solve executor (default: the CPU count, at least 2): solves are
    CPU-bound, so more threads than cores only queue. ``max_queued`` solves may wait beyond
    them (default ``QUEUED_PER_WORKER`` per worker); the gRPC server gets ``HEALTH_THREADS``
    threads more, for the health service. ``reuse_port`` lets several processes share the port
    (:mod:`services.solver.processes`); otherwise binding a port in use fails. Returns the
    server and the bound port.
    """
    workers = max_workers if max_workers is not None else max(2, os.cpu_count() or 1)
    if workers < 1:
        raise InvalidInputError(f"max_workers: must be >= 1, got {workers}")
    queued = max_queued if max_queued is not None else QUEUED_PER_WORKER * workers
    if queued < 0:
        raise InvalidInputError(f"max_queued: must be >= 0, got {queued}")
    slots = SolveSlots(workers=workers, queued=queued)
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.so_reuseport", int(reuse_port)),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=slots.capacity + HEALTH_THREADS, thread_name_prefix="grpc"),
        options=options,
    )
    pb_grpc.add_SolverServiceServicer_to_server(SolverServicer(slots), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {address}: {exc}") from None
    if port == 0:
        raise OSError(f"cannot listen on {address} (address in use or invalid)")
    return SolverServer(server, health_servicer, drain_s=drain_s, slots=slots), port


def serve(
    address: str = f"[::]:{DEFAULT_PORT}",
    *,
    max_workers: int | None = None,
    grace_s: float = 10.0,
    drain_s: float = 2.0,
    on_start: Callable[[int], None] | None = None,
    reuse_port: bool = False,
) -> None:
    """Run a solver server until SIGTERM or SIGINT, then stop gracefully (see :meth:`SolverServer.stop`).

    ``on_start`` is called with the bound port once the server accepts calls. For several
    processes on one port see :func:`services.solver.processes.serve_processes`.
    """
    server, port = create_server(address, max_workers=max_workers, drain_s=drain_s, reuse_port=reuse_port)
    server.start()
    log.info("solver: serving %s on port %d", SERVICE_NAME, port)
    if on_start is not None:
        on_start(port)
    done = threading.Event()

    def _stop() -> None:
        server.stop(grace_s).wait()
        done.set()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("solver: %s received, shutting down", signal.Signals(signum).name)
        threading.Thread(target=_stop, daemon=True).start()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not done.is_set():
            done.wait(0.5)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    log.info("solver: stopped")
