"""The REST gateway (FastAPI): experiments, transfer tables, taxonomy queries, auth, metrics,
the cluster view and the web UI. Never imports torch or worker code.

Entry points: :func:`services.gateway.app.create_app` and :func:`services.gateway.server.serve`.
"""
