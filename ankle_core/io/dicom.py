"""DICOM radiographs: decode pixel data and map it to display values, bone bright.

The order follows PS3.3 C.11 and PS3.4 N.2: colour to grey (PALETTE COLOR through its
lookup table, RGB/YBR by luminance), the Modality LUT or Rescale Slope/Intercept, then the
VOI LUT or Window Center/Width (the first of several), or, with neither, a robust min-max
over the 0.5th-99.5th percentiles; MONOCHROME1 is inverted last so that bone is bright.
Every step taken is recorded in the metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi
from pydicom.pixels.utils import pixel_array

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io._guard import check_decoded_bytes, check_pixel_count
from ankle_core.io.codestream import check_encapsulated_frames
from ankle_core.io.dicom_header import (
    BURNED_IN_ABSENT,
    BURNED_IN_YES,
    clean_header,
    has_pixels,
    header_facts,
    n_frames,
    parse_dicom,
    pixel_spacing,
    text,
)
from ankle_core.types import Radiograph

__all__ = [
    "decode_peak_bytes",
    "percentile_window",
    "read_dicom_radiograph",
    "release_pixels",
    "to_display",
    "window_linear",
]

_LUMA = np.array([0.299, 0.587, 0.114])


def read_dicom_radiograph(data: bytes, limits: ReadLimits) -> Radiograph:
    """Read one single-frame DICOM image as a :class:`~ankle_core.types.Radiograph`.

    Args:
        data: the file's bytes.
        limits: reader limits. Before decoding, the pixel count, the size each compressed
            frame declares in its own codestream (see :mod:`ankle_core.io.codestream`) and
            the memory the conversion needs (:func:`decode_peak_bytes`) are checked.

    Returns:
        The radiograph, pixels (H, W) float32 in [0, 1], bone bright; spacing (row, col) mm.

    Raises:
        InvalidInputError: no pixel data, several frames, too many pixels, bad values.
    """
    ds = parse_dicom(data, limits)
    clean = clean_header(ds, limits)
    meta = header_facts(clean)
    if not has_pixels(ds):
        kind = meta["sop_class"] or "object"
        raise InvalidInputError(
            f"The DICOM file holds no image (no pixel data; it is a {kind}). Choose an image file."
        )
    frames = n_frames(ds)
    check_pixel_count(int(ds.Rows), int(ds.Columns), frames, limits)
    if frames > 1:
        raise InvalidInputError(
            f"The DICOM file holds {frames} frames (a multi-frame image or volume), not a "
            "single radiograph. Open it as a volume instead."
        )
    check_encapsulated_frames(ds, limits)
    check_decoded_bytes(decode_peak_bytes(ds), limits, "image")
    stored = np.asarray(pixel_array(ds))  # not pydicom's cached ds.pixel_array
    release_pixels(ds)
    pixels, applied = to_display(stored, ds)
    del stored
    spacing, source, problems = pixel_spacing(clean)
    if meta["burned_in_annotation"] == "YES":
        problems.append(BURNED_IN_YES)
    elif meta["burned_in_annotation"] == "unknown":
        problems.append(BURNED_IN_ABSENT)
    meta.update(applied)
    meta["spacing_source"] = source
    meta["problems"] = problems
    return Radiograph(pixels=pixels, pixel_spacing_mm=spacing, metadata=meta, source_format="dicom")


def decode_peak_bytes(ds: Dataset) -> int:
    """Estimate the peak bytes of decoding one image and mapping it to display values.

    The stored array (samples x bytes allocated per pixel), one float64 copy per colour
    sample, about three float64 working arrays of the VOI step and the float32 result.

    Args:
        ds: the data set (Rows, Columns, NumberOfFrames, SamplesPerPixel, BitsAllocated).

    Returns:
        The estimate, in bytes.

    >>> ds = Dataset()
    >>> ds.Rows, ds.Columns, ds.BitsAllocated = 100, 100, 16
    >>> decode_peak_bytes(ds)
    380000
    """
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bytes_per_sample = -(-int(ds.get("BitsAllocated", 16) or 16) // 8)
    pixels = int(ds.Rows) * int(ds.Columns) * n_frames(ds)
    colour = samples * 8 if samples > 1 else 0
    return pixels * (samples * bytes_per_sample + colour + 3 * 8 + 4 + 8)


def release_pixels(ds: Dataset) -> None:
    """Drop a data set's pixel data (its raw bytes) once decoded, to free the memory."""
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            delattr(ds, keyword)


def to_display(
    arr: npt.NDArray[Any], ds: Dataset
) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
    """Map decoded stored values to (H, W) display values in [0, 1], bone bright.

    Args:
        arr: ``ds.pixel_array`` of a single frame: (H, W) grey or palette, or (H, W, 3)
            colour (pydicom already converts YBR to RGB).
        ds: the data set the pixels came from (pixel, modality and VOI modules).

    Returns:
        ``(pixels, applied)``: float32 (H, W) in [0, 1] and what was done (``inverted``,
        ``rescale_applied``, ``voi``, ``converted_from_colour`` and the window used).
    """
    photometric = (text(ds.get("PhotometricInterpretation")) or "MONOCHROME2").upper()
    applied: dict[str, Any] = {
        "inverted": False,
        "rescale_applied": False,
        "converted_from_colour": False,
    }
    values: npt.NDArray[np.float64]
    if photometric == "PALETTE COLOR":
        rgb = np.asarray(apply_color_lut(arr, ds), dtype=np.float64)
        values = rgb @ _LUMA
        applied["converted_from_colour"] = True
    elif arr.ndim == 3 and arr.shape[-1] in (3, 4):
        if arr.shape[-1] == 4:
            raise InvalidInputError("Four-sample (ARGB/CMYK) DICOM images are not supported.")
        values = arr.astype(np.float64) @ _LUMA
        applied["converted_from_colour"] = True
    elif arr.ndim == 2:
        values = _modality(arr, ds, applied)
    else:
        raise InvalidInputError(f"Unexpected decoded image shape {arr.shape}.")

    out = _voi(values, arr, ds, applied)
    # MONOCHROME1, or a Presentation LUT Shape of INVERSE, shows low values white; the two
    # together cancel out.
    inverse = (text(ds.get("PresentationLUTShape")) or "").upper() == "INVERSE"
    if (photometric == "MONOCHROME1") != inverse and not applied["converted_from_colour"]:
        out = 1.0 - out
        applied["inverted"] = True
    return np.clip(out, 0.0, 1.0).astype(np.float32), applied


def _modality(
    arr: npt.NDArray[Any], ds: Dataset, applied: dict[str, Any]
) -> npt.NDArray[np.float64]:
    if ds.get("ModalityLUTSequence"):
        applied["rescale_applied"] = True
        return np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    if not (np.isfinite(slope) and np.isfinite(intercept)) or slope == 0:
        raise InvalidInputError("The DICOM Rescale Slope/Intercept are not valid numbers.")
    applied["rescale_applied"] = slope != 1.0 or intercept != 0.0
    return arr.astype(np.float64) * slope + intercept


def _voi(
    values: npt.NDArray[np.float64],
    stored: npt.NDArray[Any],
    ds: Dataset,
    applied: dict[str, Any],
) -> npt.NDArray[np.float64]:
    grey = not applied["converted_from_colour"]
    seq = ds.get("VOILUTSequence") if grey else None
    if seq and seq[0].get("LUTDescriptor") is not None and seq[0].get("LUTData") is not None:
        entries, first_map = int(seq[0].LUTDescriptor[0]) or 65536, int(seq[0].LUTDescriptor[1])
        # The LUT's own output range (pydicom unpacks US or OW LUT data for us).
        every_input = np.arange(first_map, first_map + entries, dtype=np.int64)
        lut = np.asarray(apply_voi(every_input, ds), dtype=np.float64)
        mapped = np.asarray(apply_voi(np.rint(values).astype(np.int64), ds), dtype=np.float64)
        lo, hi = float(lut.min()), float(lut.max())
        applied["voi"] = "VOI LUT"
        return (mapped - lo) / (hi - lo) if hi > lo else np.zeros_like(mapped)
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if grey and center is not None and width is not None and width > 0:
        function = (text(ds.get("VOILUTFunction")) or "LINEAR").upper()
        applied["voi"] = "window"
        applied["window_center"] = center
        applied["window_width"] = width
        applied["voi_function"] = function
        return window_linear(values, center, width, function)
    applied["voi"] = "percentile"
    return percentile_window(values)


def _first(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        if len(value) == 0:
            return None
        value = value[0]
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def window_linear(
    values: npt.NDArray[np.float64], center: float, width: float, function: str = "LINEAR"
) -> npt.NDArray[np.float64]:
    """Window values to [0, 1] per PS3.3 C.11.2.1.2 (LINEAR, LINEAR_EXACT, SIGMOID).

    Args:
        values: modality values (e.g. HU), any shape.
        center: Window Center, in modality units.
        width: Window Width, in modality units (> 0).
        function: the VOI LUT Function; unknown values fall back to LINEAR.

    Returns:
        Values in [0, 1], same shape.

    >>> window_linear(np.array([-1000.0, 40.0, 1000.0]), 40.0, 400.0).round(3).tolist()
    [0.0, 0.501, 1.0]
    """
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "LINEAR_EXACT":
        return np.clip((values - (center - width / 2.0)) / width, 0.0, 1.0)
    c, w = center - 0.5, width - 1.0
    if w <= 0:
        return (values > c).astype(np.float64)
    return np.clip((values - c) / w + 0.5, 0.0, 1.0)


def percentile_window(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Min-max to [0, 1] over the 0.5th-99.5th percentiles (robust to a few outliers).

    Args:
        values: any shape, finite.

    Returns:
        Values in [0, 1], same shape; all zeros for a constant image.
    """
    lo, hi = (float(v) for v in np.percentile(values, [0.5, 99.5]))
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros_like(values, dtype=np.float64)
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0)
