"""What the gateway admits as an experiment: the whole spec validated at the door, within the
operator's bounds.

- The spec is validated by the core's own model (:meth:`ExperimentSpec.from_mapping`, presets
  allowed); pydantic's errors become :class:`SpecRejected` (422 problem+json whose ``errors`` name
  each field by its ``loc``), so the door is exactly as strict as the core's spec.
- Operators bound what a token holder may ask for: at most ``max_split_images`` images in each
  split (``TASKONOMY_MAX_SPLIT_IMAGES``), and folder datasets only under the roots they allowed
  (``TASKONOMY_DATASET_ROOTS``; none by default), so a token cannot make the workers read, or
  probe, any other path of their filesystem.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from taskonomy.contract import ExperimentSpec
from taskonomy.errors import InvalidInputError


class SpecRejected(InvalidInputError):
    """An experiment spec refused at the door; ``errors`` holds ``{loc, msg, type}`` per problem."""

    code = "validation"

    def __init__(self, message: str, errors: Sequence[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = list(errors)


def _rejected(errors: list[dict[str, Any]], *, origin: str) -> SpecRejected:
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" if e["loc"] else e["msg"] for e in errors)
    return SpecRejected(f"{origin}: {detail}", errors)


def parse_spec(body: Any, *, origin: str = "experiment spec") -> ExperimentSpec:
    """The spec of a request body (a mapping, presets allowed), or :class:`SpecRejected`."""
    if not isinstance(body, dict):
        raise _rejected([{"loc": [], "msg": f"expected a JSON object, got {type(body).__name__}",
                          "type": "model_type"}], origin=origin)
    try:
        return ExperimentSpec.from_mapping(body, origin=origin)
    except InvalidInputError as exc:
        # the core raises its own error "from None"; pydantic's, with each field's loc, is its context
        cause = exc.__context__
        if isinstance(cause, ValidationError):
            errors = [{"loc": [str(p) for p in e.get("loc", ())],
                       "msg": str(e.get("msg", "invalid")).removeprefix("Value error, "),
                       "type": str(e.get("type", "value_error"))} for e in cause.errors()]
            raise _rejected(errors, origin=origin) from None
        raise _rejected([{"loc": [], "msg": str(exc).removeprefix(f"{origin}: "), "type": "value_error"}],
                        origin=origin) from None


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def check_bounds(spec: ExperimentSpec, *, max_split_images: int, dataset_roots: Sequence[str],
                 origin: str = "experiment spec") -> None:
    """The operator's bounds (see the module docstring); :class:`SpecRejected` naming each field."""
    errors: list[dict[str, Any]] = []
    for name, n in spec.splits.model_dump().items():
        if n > max_split_images:
            errors.append({"loc": ["splits", name], "type": "less_than_equal",
                           "msg": f"at most {max_split_images} images per split on this gateway "
                                  f"(TASKONOMY_MAX_SPLIT_IMAGES), got {n}"})
    if spec.dataset.kind == "folder":
        root = str(getattr(spec.dataset, "root", ""))
        normal = posixpath.normpath(root) if root.startswith("/") else ""
        roots = [posixpath.normpath(r) for r in dataset_roots]
        if not roots:
            errors.append({"loc": ["dataset", "root"], "type": "not_allowed",
                           "msg": "folder datasets are not enabled on this gateway (the operator lists the allowed "
                                  "roots in TASKONOMY_DATASET_ROOTS)"})
        elif not normal or not _under(normal, roots):
            errors.append({"loc": ["dataset", "root"], "type": "not_allowed",
                           "msg": f"{root!r} is not under an allowed dataset root ({', '.join(roots)}); give an "
                                  "absolute path inside one"})
    if errors:
        raise _rejected(errors, origin=origin)


def admit(body: Any, *, max_split_images: int, dataset_roots: Sequence[str]) -> ExperimentSpec:
    """The validated spec of a submission within the operator's bounds, or :class:`SpecRejected`."""
    spec = parse_spec(body)
    check_bounds(spec, max_split_images=max_split_images, dataset_roots=dataset_roots)
    return spec
