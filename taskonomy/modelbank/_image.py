"""Decoding an uploaded image (PNG or JPEG) with Pillow, checked before anything trusts it.

The content type a client claims is never trusted: the bytes are sniffed and decoded by
Pillow, the format must be PNG or JPEG, and the size limits are checked on the header before
the pixels are decoded (so a decompression bomb is refused without being expanded).
"""

from __future__ import annotations

import io

import numpy as np

from taskonomy.errors import InvalidInputError

#: Largest upload accepted (bytes).
MAX_IMAGE_BYTES = 5 * 1024 * 1024
#: Smallest and largest image side accepted (pixels).
MIN_IMAGE_SIDE, MAX_IMAGE_SIDE = 8, 4096
#: Pillow format names accepted.
IMAGE_FORMATS: tuple[str, ...] = ("PNG", "JPEG")


class ImageTooLargeError(InvalidInputError):
    """The upload has more bytes than :data:`MAX_IMAGE_BYTES` (HTTP 413)."""

    code = "image-too-large"


class UnsupportedImageError(InvalidInputError):
    """The upload is not a PNG or JPEG image (HTTP 415)."""

    code = "unsupported-image"


class ImageDimensionsError(InvalidInputError):
    """The image is decodable but its width or height is out of range (HTTP 422)."""

    code = "image-dimensions"


def decode_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, min_side: int = MIN_IMAGE_SIDE,
                 max_side: int = MAX_IMAGE_SIDE) -> np.ndarray:
    """PNG/JPEG bytes → float32 RGB array (3, H, W) in [0, 1] (alpha dropped, grey expanded)."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data, bytes | bytearray | memoryview):
        raise UnsupportedImageError(f"an image must be bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise UnsupportedImageError("the upload is empty; send a PNG or JPEG image")
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"the image has {len(data)} bytes; at most {max_bytes} are accepted")
    try:
        im = Image.open(io.BytesIO(bytes(data)), formats=list(IMAGE_FORMATS))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise UnsupportedImageError("the upload is not a PNG or JPEG image") from None
    w, h = im.size
    if not (min_side <= w <= max_side and min_side <= h <= max_side):
        raise ImageDimensionsError(f"the image is {w}x{h} pixels; width and height must be between {min_side} "
                                   f"and {max_side}")
    try:
        rgb = im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UnsupportedImageError(f"the {im.format} image could not be decoded: {exc}") from None
    arr = np.asarray(rgb, dtype=np.float32) / 255.0
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def fit_image(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop ``image`` (3, H, W) to a square and resize it to ``size`` (Pillow, bicubic downscaling
    with antialiasing); float32 (3, size, size) in [0, 1]."""
    from PIL import Image

    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 3 or a.shape[0] != 3:
        raise InvalidInputError(f"an image must have shape (3, H, W), got {a.shape}")
    _, h, w = a.shape
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = a[:, y0:y0 + side, x0:x0 + side]
    if side == size:
        return np.ascontiguousarray(crop)
    u8 = np.clip(np.rint(crop.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
    out = Image.fromarray(u8).resize((size, size), Image.Resampling.BICUBIC, reducing_gap=None)
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).transpose(2, 0, 1) / 255.0)


def encode_png(image: np.ndarray) -> bytes:
    """(3, H, W) float in [0, 1] → PNG bytes."""
    from PIL import Image

    u8 = np.clip(np.rint(np.asarray(image).transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="PNG")
    return buf.getvalue()
