"""The solver service: AHP and the taxonomy BIP of the core behind gRPC.

- :mod:`services.solver.server` — ``create_server(address) -> (server, port)``, ``serve()``.
- :mod:`services.solver.client` — :class:`~services.solver.client.SolverClient` (deadlines,
  retries on UNAVAILABLE), used by the gateway and the pipeline's finalise job.
- :mod:`services.solver.convert` — messages <-> core objects, with field-named validation.
- ``generated/`` — stubs of ``protos/taskonomy/solver/v1/solver.proto`` (scripts/gen_protos.py).

Nothing is imported here, so that importing the client does not load the server.
"""
