"""The renderer's corrupted inputs are :func:`taskonomy.world.corrupted_inputs` of its clean image."""

from __future__ import annotations

import numpy as np

from taskonomy.world import corrupted_inputs, jigsaw_permutations


def test_rendered_corruptions_are_the_corruption_function_of_the_clean_image(samples) -> None:
    for sample in samples:
        rgb, mask, perm = sample["rgb"], sample["meta.inpaint_mask"], int(sample["jigsaw"])
        side = int(np.sqrt(mask.sum()))
        assert mask.sum() == side * side and rgb.shape[-1] // 4 <= side <= rgb.shape[-1] // 2 + 1
        assert 0 <= perm < len(jigsaw_permutations())
        again = corrupted_inputs(rgb, np.random.default_rng(0), noise_sigma=0.1, mask=mask, permutation=perm)
        for key in ("rgb_masked", "jigsaw_image"):
            np.testing.assert_array_equal(sample[key], again[key], err_msg=key)
        # the renderer's luma comes from the unrounded (float64) colour: the same to float32 precision
        np.testing.assert_allclose(sample["gray"], again["gray"], atol=1e-6)
        np.testing.assert_array_equal(again["meta.inpaint_mask"], mask)
        assert int(again["jigsaw"]) == perm


def test_drawn_choices_come_from_the_generator_in_a_fixed_order() -> None:
    rgb = np.random.default_rng(2).random((3, 24, 24)).astype(np.float32)
    a = corrupted_inputs(rgb, np.random.default_rng(9), noise_sigma=0.1)
    b = corrupted_inputs(rgb, np.random.default_rng(9), noise_sigma=0.1)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # the noise is drawn first: fixing the mask and the permutation leaves it as it was
    c = corrupted_inputs(rgb, np.random.default_rng(9), noise_sigma=0.1, mask=a["meta.inpaint_mask"],
                         permutation=int(a["jigsaw"]))
    for key in a:
        np.testing.assert_array_equal(a[key], c[key], err_msg=key)
