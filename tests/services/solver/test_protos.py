"""The committed stubs match protos/, and the proto follows the API conventions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.solver.generated import solver_pb2 as pb

ROOT = Path(__file__).resolve().parents[3]


def test_committed_stubs_match_the_proto() -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (dev extra) regenerates the stubs")
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr


def test_package_and_file_path() -> None:
    assert pb.DESCRIPTOR.package == "taskonomy.solver.v1"
    assert pb.DESCRIPTOR.name == "taskonomy/solver/v1/solver.proto"


def test_requests_and_responses_are_named_after_their_rpc() -> None:
    service = pb.DESCRIPTOR.services_by_name["SolverService"]
    assert {m.name for m in service.methods} == {"ComputeAffinity", "SolveTaxonomy", "SweepBudgets"}
    for method in service.methods:
        assert method.input_type.name == f"{method.name}Request"
        assert method.output_type.name == f"{method.name}Response"


def test_every_enum_starts_with_an_unspecified_zero() -> None:
    assert pb.DESCRIPTOR.enum_types_by_name
    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        prefix = "".join("_" + c if c.isupper() else c.upper() for c in enum.name).lstrip("_")
        assert enum.values_by_number[0].name == f"{prefix}_UNSPECIFIED"
        assert all(v.name.startswith(prefix + "_") for v in enum.values)
