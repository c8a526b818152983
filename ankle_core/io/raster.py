"""PNG (8- and 16-bit) and JPEG radiographs, through Pillow.

Exported images already hold display values, so the reader only scales them by their bit
depth to [0, 1] (``voi: "bit depth"``); colour (RGB, RGBA, palette, CMYK, YCbCr) is
converted to grey by ITU-R 601 luminance and the metadata says so. The EXIF orientation of a
JPEG is applied. Text chunks and other EXIF fields are never read, so they cannot leak.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io._guard import check_decoded_bytes, check_pixel_count
from ankle_core.io.dicom import percentile_window
from ankle_core.types import Radiograph

__all__ = ["read_raster_radiograph"]

_COLOUR_MODES = {"RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"}
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N"}


def read_raster_radiograph(data: bytes, source_format: str, limits: ReadLimits) -> Radiograph:
    """Read a PNG or JPEG file as a :class:`~ankle_core.types.Radiograph`.

    Args:
        data: the file's bytes.
        source_format: ``"png"`` or ``"jpeg"`` (from the content, not the name).
        limits: reader limits (pixel count checked before decoding).

    Returns:
        The radiograph: pixels (H, W) float32 in [0, 1]; spacing None (these formats carry
        no reliable spacing in mm).

    Raises:
        InvalidInputError: several frames, too many pixels, or an unsupported mode.
    """
    with Image.open(io.BytesIO(data)) as im:
        width, height = im.size
        frames = int(getattr(im, "n_frames", 1) or 1)
        check_pixel_count(height, width, frames, limits)
        # The decoded bands (up to 4 x 2 bytes), their float64 grey and display copies.
        check_decoded_bytes(height * width * frames * (8 + 4 * 8 + 4), limits, "image")
        if frames > 1:
            raise InvalidInputError(
                f"The image holds {frames} frames (an animation), not a single radiograph."
            )
        mode = im.mode
        orientation = int(im.getexif().get(0x0112, 1) or 1) if source_format == "jpeg" else 1
        oriented = orientation != 1
        pixels, bits, colour = _to_grey(ImageOps.exif_transpose(im) if oriented else im, mode)
    meta: dict[str, Any] = {
        "modality": None,
        "photometric_interpretation": "RGB" if colour else "MONOCHROME2",
        "bits_stored": bits,
        "image_mode": mode,
        "converted_from_colour": colour,
        "inverted": False,
        "rescale_applied": False,
        "voi": "bit depth" if mode != "F" else "percentile",
        "spacing_source": None,
        "burned_in_annotation": "unknown",
        "exif_orientation_applied": oriented,
        "n_frames": 1,
        "problems": [
            "no pixel spacing: PNG/JPEG files do not carry it in mm",
            "burned-in text unknown: exported images may show patient details",
        ],
    }
    return Radiograph(
        pixels=pixels, pixel_spacing_mm=None, metadata=meta, source_format=source_format
    )


def _to_grey(im: Image.Image, mode: str) -> tuple[np.ndarray, int, bool]:
    if mode in _COLOUR_MODES:
        grey = np.asarray(im.convert("RGB").convert("L"), dtype=np.float64) / 255.0
        return grey.astype(np.float32), 8, True
    if mode in ("L", "LA", "1"):
        grey = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
        return grey.astype(np.float32), 8 if mode != "1" else 1, False
    if mode in _SIXTEEN_BIT or mode == "I":
        arr = np.asarray(im, dtype=np.float64)
        if arr.ndim != 2:
            raise InvalidInputError(f"Unexpected image layout for mode {mode}.")
        if mode == "I" and (arr.min() < 0 or arr.max() > 65535):
            return percentile_window(arr).astype(np.float32), 32, False
        return np.clip(arr / 65535.0, 0.0, 1.0).astype(np.float32), 16, False
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise InvalidInputError("The image contains NaN or infinite values.")
        return percentile_window(arr).astype(np.float32), 32, False
    raise InvalidInputError(f"Unsupported image mode {mode!r}; export the image as grey or RGB.")
