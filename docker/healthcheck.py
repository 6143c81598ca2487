#!/usr/bin/env python3
"""Container health check for the images (Docker ``HEALTHCHECK`` and docker-compose).

Kubernetes probes the same endpoints natively (``httpGet`` and ``grpc``); this script exists
because Docker has no built-in HTTP or gRPC probe and the slim images ship no curl.

Usage::

    taskonomy-healthcheck http http://127.0.0.1:8000/readyz    # 2xx -> healthy
    taskonomy-healthcheck grpc 127.0.0.1:50051 [--service NAME] # SERVING -> healthy
    taskonomy-healthcheck auto   # the service image's own: TASKONOMY_SERVICE on TASKONOMY_SERVICE_PORT
                                 # (gateway: GET /healthz over http; solver: gRPC health)

Exit status 0 when healthy, 1 when not (with one line on stderr saying why), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request


def check_http(url: str, *, timeout: float) -> str | None:
    """None when ``url`` answers 2xx, else the reason."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            status = int(response.status)
    except urllib.error.HTTPError as error:
        return f"{url} answered HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return f"{url} unreachable: {error}"
    return None if 200 <= status < 300 else f"{url} answered HTTP {status}"


def check_grpc(address: str, *, service: str, timeout: float) -> str | None:
    """None when the standard gRPC health service at ``address`` reports SERVING, else the reason."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as error:
            return f"{address} health check failed: {error.code().name}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{address} reports {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


def build_parser() -> argparse.ArgumentParser:
    """The command line (also used by tests to check the compose and Dockerfile health checks)."""
    parser = argparse.ArgumentParser(prog="taskonomy-healthcheck", description="Probe a Taskonomy service.")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for an answer")
    sub = parser.add_subparsers(dest="kind", required=True)
    http = sub.add_parser("http", help="GET a URL, healthy on 2xx")
    http.add_argument("url")
    grpc_parser = sub.add_parser("grpc", help="standard gRPC health Check, healthy on SERVING")
    grpc_parser.add_argument("address", help="HOST:PORT")
    grpc_parser.add_argument("--service", default="", help="service name ('' is the whole server)")
    sub.add_parser("auto", help="the image's service (TASKONOMY_SERVICE, TASKONOMY_SERVICE_PORT)")
    return parser


def auto_target(env: dict[str, str] | os._Environ[str]) -> tuple[str, str]:
    """``(kind, target)`` of the probe for the service image's own service, from its environment."""
    service, port = env.get("TASKONOMY_SERVICE", ""), env.get("TASKONOMY_SERVICE_PORT", "")
    if not port.isdigit():
        raise ValueError(f"TASKONOMY_SERVICE_PORT must be a port number, got {port!r}")
    if service == "gateway":
        return "http", f"http://127.0.0.1:{port}/healthz"
    if service == "solver":
        return "grpc", f"127.0.0.1:{port}"
    raise ValueError(f"TASKONOMY_SERVICE must be gateway or solver, got {service!r}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.kind == "auto":
            args.kind, target = auto_target(os.environ)
            args.url = args.address = target
            args.service = ""
        if args.kind == "http":
            problem = check_http(args.url, timeout=args.timeout)
        else:
            problem = check_grpc(args.address, service=args.service, timeout=args.timeout)
    except ValueError as error:
        print(f"taskonomy-healthcheck: {error}", file=sys.stderr)
        return 2
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
