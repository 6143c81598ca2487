from tests.services.gateway._fixtures import gw, live, solver_address  # noqa: F401
