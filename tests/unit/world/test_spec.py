from __future__ import annotations

import pytest

from taskonomy.errors import InvalidInputError
from taskonomy.world import WorldSpec


def test_key_is_stable_and_content_addressed() -> None:
    a = WorldSpec(seed=1, size=32)
    assert a.key() == WorldSpec(seed=1, size=32).key()
    assert a.key() != WorldSpec(seed=2, size=32).key()
    assert a.key() != WorldSpec(seed=1, size=64).key()
    assert WorldSpec.from_dict(a.to_dict()) == a
    assert WorldSpec.from_dict({**a.to_dict(), "size": 32.0}) == a  # JSON numbers


@pytest.mark.parametrize("bad", [{"size": 8}, {"size": 4096}, {"size": "64"}, {"seed": -1}, {"fov_deg": 170.0},
                                 {"min_objects": 5, "max_objects": 3}, {"size": True}, {"colour": 1}])
def test_out_of_range_specs_are_invalid_input(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        WorldSpec.from_dict(bad)
