from tests.unit.modelbank._experiment import tiny_run  # noqa: F401
