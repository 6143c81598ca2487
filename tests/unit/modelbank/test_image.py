"""Uploaded images: PNG/JPEG only (sniffed, never trusted by content type), size limits, resizing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from taskonomy.errors import InvalidInputError
from taskonomy.modelbank import (
    ImageDimensionsError,
    ImageTooLargeError,
    UnsupportedImageError,
    decode_image,
    encode_png,
    fit_image,
)


def _encode(w: int, h: int, fmt: str, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(0)
    arr = (rng.random((h, w, 4 if mode == "RGBA" else 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_png_and_jpeg_decode_to_rgb_in_unit_range(fmt: str) -> None:
    img = decode_image(_encode(40, 24, fmt))
    assert img.shape == (3, 24, 40) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0


def test_alpha_is_dropped_and_png_round_trips() -> None:
    img = decode_image(_encode(9, 9, "PNG", mode="RGBA"))
    assert img.shape == (3, 9, 9)
    assert np.allclose(decode_image(encode_png(img)), img, atol=1 / 255)


@pytest.mark.parametrize("data", [b"", b"hello, not an image", b"%PDF-1.4 ...", _encode(20, 20, "PNG")[:60]])
def test_what_is_not_a_png_or_jpeg_is_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedImageError):
        decode_image(data)


def test_other_image_formats_are_unsupported() -> None:
    with pytest.raises(UnsupportedImageError, match="PNG or JPEG"):
        decode_image(_encode(20, 20, "GIF"))
    with pytest.raises(UnsupportedImageError):
        decode_image(_encode(20, 20, "BMP"))


def test_too_many_bytes() -> None:
    data = _encode(64, 64, "PNG")
    with pytest.raises(ImageTooLargeError, match=f"{len(data)} bytes"):
        decode_image(data, max_bytes=len(data) - 1)
    assert issubclass(ImageTooLargeError, InvalidInputError)


@pytest.mark.parametrize("w,h", [(4, 4), (7, 100), (100, 7), (5000, 8)])
def test_sides_out_of_range(w: int, h: int) -> None:
    with pytest.raises(ImageDimensionsError, match=f"{w}x{h}"):
        decode_image(_encode(w, h, "PNG"))


def test_huge_declared_size_is_refused_before_decoding() -> None:
    # a valid PNG header claiming 100000 x 100000 pixels (a decompression bomb) with almost no data
    buf = io.BytesIO()
    Image.new("1", (100_000, 10)).save(buf, format="PNG")
    with pytest.raises(ImageDimensionsError):
        decode_image(buf.getvalue())


@pytest.mark.parametrize("h,w", [(24, 40), (40, 24), (16, 16), (300, 200)])
def test_fit_image_crops_the_centre_square_and_resizes(h: int, w: int) -> None:
    img = np.zeros((3, h, w), dtype=np.float32)
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    img[:, y0:y0 + side, x0:x0 + side] = 1.0  # the centre square is white, the rest black
    out = fit_image(img, 16)
    assert out.shape == (3, 16, 16) and out.dtype == np.float32
    assert out.min() > 0.95


def test_fit_image_rejects_non_images() -> None:
    with pytest.raises(InvalidInputError):
        fit_image(np.zeros((16, 16)), 16)
