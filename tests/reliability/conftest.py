from tests.services.gateway._fixtures import solver_address  # noqa: F401
