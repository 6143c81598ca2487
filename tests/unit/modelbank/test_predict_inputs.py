"""An uploaded image's inputs are the world's corruptions (one definition: the world's)."""

from __future__ import annotations

import numpy as np
import pytest

from taskonomy.modelbank.predict import SINGLE_VIEW_KEYS, derive_inputs
from taskonomy.world import apply_jigsaw, centred_square, corrupted_inputs, jigsaw_permutations


@pytest.mark.parametrize(("size", "seed", "sigma"), [(16, 0, 0.1), (33, 5, 0.25)])
def test_derive_inputs_are_the_worlds_corruptions_for_the_same_image_and_seed(size: int, seed: int,
                                                                             sigma: float) -> None:
    rgb = np.random.default_rng(100 + size).random((3, size, size)).astype(np.float32)
    ours = derive_inputs(rgb, noise_sigma=sigma, seed=seed)
    world = corrupted_inputs(rgb, np.random.default_rng(seed), noise_sigma=sigma, mask=centred_square(size),
                             permutation=0)
    assert list(ours) == list(SINGLE_VIEW_KEYS)
    np.testing.assert_array_equal(ours["rgb"], rgb)
    for key in SINGLE_VIEW_KEYS[1:]:
        assert ours[key].dtype == world[key].dtype == np.float32
        np.testing.assert_array_equal(ours[key], world[key], err_msg=key)


def test_the_fixed_choices_of_an_uploaded_image() -> None:
    """The centred third masked, the first permutation, the luma, noise of the given sigma."""
    rgb = np.random.default_rng(1).random((3, 18, 18)).astype(np.float32)
    ours = derive_inputs(rgb, noise_sigma=0.05, seed=3)
    masked = ours["rgb_masked"]
    assert (masked[:, 6:12, 6:12] == 0).all()
    keep = np.ones((18, 18), dtype=bool)
    keep[6:12, 6:12] = False
    np.testing.assert_array_equal(masked[:, keep], rgb[:, keep])
    np.testing.assert_array_equal(ours["jigsaw_image"], apply_jigsaw(rgb, jigsaw_permutations()[0]))
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    np.testing.assert_allclose(ours["gray"], np.broadcast_to(luma, (3, 18, 18)), atol=1e-6)
    noise = ours["rgb_noisy"] - rgb
    inside = (ours["rgb_noisy"] > 0) & (ours["rgb_noisy"] < 1)
    assert 0.04 < float(noise[inside].std()) < 0.06
    again = derive_inputs(rgb, noise_sigma=0.05, seed=3)
    np.testing.assert_array_equal(again["rgb_noisy"], ours["rgb_noisy"])
    assert not np.array_equal(derive_inputs(rgb, noise_sigma=0.05, seed=4)["rgb_noisy"], ours["rgb_noisy"])
