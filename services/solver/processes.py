"""Several solver processes on one port (SO_REUSEPORT): throughput beyond one interpreter.

A solve is mostly Python (compiling the problem, evaluating root sets) around SCIP, so the
threads of one server share one core's worth of interpreter (the GIL). :func:`serve_processes`
starts N *spawned* processes (no gRPC state crosses a fork), each a complete server — thread
pool, health service, graceful stop — bound to the same port with SO_REUSEPORT; the kernel
spreads incoming connections across them. The parent holds the port (so ``:0`` picks one for
all), forwards SIGTERM/SIGINT to every child, and exits non-zero if a child died on its own.
In a cluster, replicas do the same job; this is for one big host. Linux only (SO_REUSEPORT).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event

log = logging.getLogger(__name__)


def _reserve_port(address: str) -> tuple[socket.socket, str, int]:
    """Bind (not listen) a SO_REUSEPORT socket on ``address``; return it, the host and the port."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit():
        raise OSError(f"cannot listen on {address!r}: expected host:port")
    name = host.strip("[]") or "::"
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(name, int(port_text), type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise OSError(f"cannot listen on {address!r}: {exc}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {address!r}: {exc.strerror or exc}") from None
    return sock, host, int(sock.getsockname()[1])


def _child(address: str, max_workers: int | None, grace_s: float, drain_s: float, ready: Event,
           log_level: int) -> None:
    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s [{os.getpid()}] %(name)s: %(message)s")
    from services.solver.server import serve

    serve(address, max_workers=max_workers, grace_s=grace_s, drain_s=drain_s, reuse_port=True,
          on_start=lambda _port: ready.set())


def serve_processes(
    address: str,
    *,
    processes: int,
    max_workers: int | None = None,
    grace_s: float = 10.0,
    drain_s: float = 2.0,
    on_start: Callable[[int], None] | None = None,
    start_timeout_s: float = 120.0,
) -> int:
    """Run ``processes`` solver servers on ``address`` until SIGTERM/SIGINT; return the exit code.

    ``on_start`` gets the port once every process serves. Each process stops as
    :func:`services.solver.server.serve` does (NOT_SERVING, drain, grace).
    """
    if processes < 1:
        from taskonomy.errors import InvalidInputError

        raise InvalidInputError(f"processes: must be >= 1, got {processes}")
    sock, host, port = _reserve_port(address)
    ctx = multiprocessing.get_context("spawn")
    readies = [ctx.Event() for _ in range(processes)]
    level = logging.getLogger().getEffectiveLevel()
    children = [
        ctx.Process(target=_child, name=f"solver-{i}", daemon=False,
                    args=(f"{host}:{port}", max_workers, grace_s, drain_s, readies[i], level))
        for i in range(processes)
    ]
    stopping = False

    def _forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            log.info("solver: %s received, stopping %d processes", signal.Signals(signum).name, processes)
        stopping = True
        for child in children:
            if child.pid is not None and child.exitcode is None:
                os.kill(child.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, _forward) for s in (signal.SIGTERM, signal.SIGINT)}
    failed = False
    try:
        for child in children:
            child.start()
        deadline = time.monotonic() + start_timeout_s
        while not all(r.is_set() for r in readies) and not stopping:
            if any(c.exitcode is not None for c in children) or time.monotonic() > deadline:
                log.error("solver: a process failed to start")
                failed = True
                _forward(signal.SIGTERM, None)
                break
            time.sleep(0.05)
        else:
            if not stopping:
                log.info("solver: %d processes serving on port %d", processes, port)
                if on_start is not None:
                    on_start(port)
        while any(c.exitcode is None for c in children):
            for child in children:
                child.join(0.2)
                if child.exitcode not in (None, 0) and not stopping:
                    log.error("solver: process %s exited with %s; stopping the others", child.pid, child.exitcode)
                    failed = True
                    _forward(signal.SIGTERM, None)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for child in children:
            if child.exitcode is None:
                child.kill()
                child.join()
        sock.close()
    failed = failed or any(c.exitcode != 0 for c in children)
    log.info("solver: stopped")
    return 1 if failed else 0
