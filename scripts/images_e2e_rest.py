#!/usr/bin/env python3
"""The REST half of scripts/images-e2e.sh: one tiny experiment through the containers.

Submits TINY to the gateway container, polls it until SUCCEEDED (the trainer and transfer
containers run its jobs over Redis and write the shared artifact volume), reads its transfer
table, and asks for a taxonomy over it (the gateway calls the solver container over gRPC).
``--solver-down`` checks the other side: with the solver container stopped, an uncached taxonomy
query must fail (5xx), so the answer above really came from the solver.

Standard library only (it runs on the bare CI host, outside the project's virtualenv).
Exit status 0 on success, 1 with one line saying what went wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

#: The smallest real experiment the service tests run (tests/services/workers/_harness.py's tiny_spec):
#: two tasks on a 16 px world, 8 training images, one epoch each.
TINY: dict[str, Any] = {
    "name": "images-e2e", "dataset": {"kind": "world", "seed": 0, "size": 16},
    "tasks": ["autoencoding", "depth_zbuffer"], "splits": {"train": 8, "transfer": 8, "test": 4},
    "model": {"width": 8, "rep_channels": 4}, "train": {"epochs": 1, "batch_size": 8},
    "transfer": {"epochs": 1, "batch_size": 8}, "max_order": 1, "beam": 2, "seed": 0,
}
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


class Failure(Exception):
    """The end-to-end check failed (the message says how)."""


def call(base: str, method: str, path: str, *, body: Any = None, token: str | None = None,
         timeout: float = 60.0) -> tuple[int, Any]:
    """(HTTP status, decoded JSON body or text) of one request; HTTP errors are answers, not exceptions."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http URL from the script)
            status, raw = int(response.status), response.read()
    except urllib.error.HTTPError as error:
        status, raw = int(error.code), error.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_ready(base: str, timeout: float) -> None:
    """Until GET /readyz answers 200 (Redis and the solver reachable from the gateway)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            status, last = call(base, "GET", "/readyz", timeout=5)
            if status == 200:
                return
        except OSError as error:
            last = error
        time.sleep(1)
    raise Failure(f"the gateway was not ready after {timeout:.0f} s: {last}")


def run_experiment(base: str, token: str, timeout: float) -> None:
    t0 = time.monotonic()
    status, submitted = call(base, "POST", "/v1/experiments", body=TINY, token=token)
    if status != 202:
        raise Failure(f"POST /v1/experiments answered {status}: {submitted}")
    exp_id = submitted["id"]
    print(f"submitted experiment {exp_id} ({', '.join(TINY['tasks'])}, {TINY['dataset']['size']} px)", flush=True)
    deadline, seen = t0 + timeout, None
    while True:
        status, body = call(base, "GET", f"/v1/experiments/{exp_id}")
        if status != 200:
            raise Failure(f"GET /v1/experiments/{exp_id} answered {status}: {body}")
        progress = {name: f"{s['done']}/{s['total']}" for name, s in body.get("stages", {}).items()}
        if (body["state"], progress) != seen:
            seen = (body["state"], progress)
            print(f"  {time.monotonic() - t0:6.1f} s  {body['state']}  {progress}", flush=True)
        if body["state"] in FINAL:
            break
        if time.monotonic() > deadline:
            raise Failure(f"experiment {exp_id} still {body['state']} after {timeout:.0f} s")
        time.sleep(1)
    if body["state"] != "SUCCEEDED":
        raise Failure(f"experiment {exp_id} ended {body['state']}: {json.dumps(body)[:2000]}")
    stages = body.get("stages", {})
    if not stages or not all(s["done"] == s["total"] > 0 for s in stages.values()):
        raise Failure(f"experiment {exp_id} SUCCEEDED with unfinished stages: {stages}")
    print(f"experiment {exp_id} SUCCEEDED in {time.monotonic() - t0:.1f} s", flush=True)

    status, table = call(base, "GET", f"/v1/experiments/{exp_id}/transfers")
    if status != 200:
        raise Failure(f"GET /v1/experiments/{exp_id}/transfers answered {status}: {table}")
    targets = {row["target"] for row in table["rows"]}
    if targets != set(TINY["tasks"]):
        raise Failure(f"the transfer table's targets are {sorted(targets)}, expected {TINY['tasks']}")

    t1 = time.monotonic()
    status, taxonomy = call(base, "POST", "/v1/taxonomy", body={"table": exp_id, "budget": 1})
    if status != 200 or taxonomy.get("status") != "OPTIMAL" or len(taxonomy.get("roots", [])) != 1:
        raise Failure(f"POST /v1/taxonomy answered {status}: {taxonomy}")
    print(f"taxonomy (budget 1) from the solver in {time.monotonic() - t1:.2f} s: roots {taxonomy['roots']}, "
          f"{len(taxonomy.get('edges', []))} edges, objective {taxonomy.get('objective')}", flush=True)
    print(f"EXPERIMENT={exp_id}")


def solver_down(base: str, experiment: str) -> None:
    """With the solver stopped, an uncached taxonomy query must fail: the answers came from it."""
    status, body = call(base, "POST", "/v1/taxonomy", body={"table": experiment, "budget": 2})
    if status < 500:
        raise Failure(f"with the solver container stopped, POST /v1/taxonomy answered {status}: {body}")
    print(f"with the solver container stopped, POST /v1/taxonomy answers {status} (as it must)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the gateway's base URL, e.g. http://127.0.0.1:18000")
    parser.add_argument("--token", help="a bearer token the gateway accepts (for the submission)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the experiment to succeed")
    parser.add_argument("--solver-down", metavar="EXPERIMENT", help="check that taxonomy queries need the solver")
    args = parser.parse_args(argv)
    base = args.base.rstrip("/")
    try:
        if args.solver_down:
            solver_down(base, args.solver_down)
        else:
            if not args.token:
                parser.error("--token is required to submit")
            wait_ready(base, 120.0)
            run_experiment(base, args.token, args.timeout)
    except (Failure, OSError, KeyError, TypeError) as error:
        print(f"images-e2e: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
