"""A single 2D image stored as NIfTI (``.nii``, ``.nii.gz``), read as a radiograph.

Some pipelines export radiographs as 2D NIfTI (shape (i, j) or (i, j, 1)). The header is
checked first (two spatial dimensions, a pixel count within the limits, a bounded gzip
size); the values are scaled to [0, 1] over their 0.5th-99.5th percentiles
(``voi: "percentile"``), bone assumed bright. NIfTI's j axis points up (towards anterior or
superior), so the image's first row is the last j: the picture reads as it was acquired.
Spacing comes from the affine's column norms. Header text fields are never read.
"""

from __future__ import annotations

import zlib
from typing import Any

import nibabel as nib
import numpy as np

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io._guard import check_pixel_count
from ankle_core.io.dicom import percentile_window
from ankle_core.io.nifti import nifti_header
from ankle_core.io.sources import gunzip_bounded
from ankle_core.types import Radiograph

__all__ = ["read_nifti_radiograph"]

_HEADER_BYTES = 540


def read_nifti_radiograph(data: bytes, limits: ReadLimits) -> Radiograph:
    """Read a 2D NIfTI image (plain or gzip) as a :class:`~ankle_core.types.Radiograph`.

    Args:
        data: the file's bytes.
        limits: reader limits.

    Returns:
        The radiograph: pixels (H, W) float32 in [0, 1], spacing (row, col) mm.

    Raises:
        InvalidInputError: not NIfTI, a volume (more than one slice), too large, or
            non-finite values.
    """
    head = data[:_HEADER_BYTES]
    if data[:2] == b"\x1f\x8b":
        head = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(data, _HEADER_BYTES)
    header = nifti_header(head)
    two = isinstance(header, nib.Nifti2Header)
    dims = tuple(int(n) for n in header.get_data_shape())
    while len(dims) > 2 and dims[-1] == 1:
        dims = dims[:-1]
    if len(dims) != 2:
        raise InvalidInputError(
            f"This NIfTI file holds a volume (shape {dims}), not a single image. Open it as a "
            "CT volume instead."
        )
    check_pixel_count(dims[1], dims[0], 1, limits)
    if data[:2] == b"\x1f\x8b":
        need = int(header.get_data_offset()) + dims[0] * dims[1] * 16 + (1 << 20)
        data = gunzip_bounded(data, min(need, limits.max_zip_bytes))
    kind: Any = nib.Nifti2Image if two else nib.Nifti1Image
    img = kind.from_bytes(data)
    arr = np.asarray(img.dataobj, dtype=np.float64).reshape(dims)
    if not np.isfinite(arr).all():
        raise InvalidInputError("The NIfTI image contains NaN or infinite values.")
    pixels = percentile_window(arr.T[::-1]).astype(np.float32)
    zooms = np.linalg.norm(np.asarray(img.affine, np.float64)[:3, :2], axis=0)  # (i, j) mm
    spacing = (float(zooms[1]), float(zooms[0])) if np.all(zooms > 0) else None
    meta: dict[str, Any] = {
        "modality": None,
        "manufacturer": None,
        "photometric_interpretation": "MONOCHROME2",
        "voi": "percentile",
        "rescale_applied": False,
        "nifti_version": 2 if two else 1,
        "source_format": "nifti",
        "problems": [],
    }
    return Radiograph(pixels=np.ascontiguousarray(pixels), pixel_spacing_mm=spacing, metadata=meta)
