"""``read_volume``: one entry point for NIfTI files, DICOM series and multi-frame DICOM.

A single file or buffer is sniffed: NIfTI (plain or gzip) goes to
:mod:`ankle_core.io.nifti`; a ``.zip``, a folder or a list of files is a DICOM series for
:mod:`ankle_core.io.series`; a single DICOM file must be multi-frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io._guard import input_boundary
from ankle_core.io.nifti import read_nifti_volume
from ankle_core.io.series import read_dicom_stack
from ankle_core.io.sources import Source, read_bytes, read_members, sniff
from ankle_core.types import Volume

__all__ = ["read_volume"]


@input_boundary("volume")
def read_volume(
    source: Source | Sequence[str | os.PathLike[str] | bytes],
    *,
    limits: ReadLimits | None = None,
) -> Volume:
    """Read a CT (or other 3D) volume.

    Args:
        source: a NIfTI file (``.nii``/``.nii.gz``: path, bytes or file object); a DICOM
            series as a folder (recursed), a list of paths or bytes, or a ``.zip`` (path,
            bytes or file object); or one multi-frame DICOM file.
        limits: reader limits; the defaults of :class:`~ankle_core.config.ReadLimits` when
            None.

    Returns:
        A :class:`~ankle_core.types.Volume`: array (z, y, x) float32 (HU for CT), spacing
        (z, y, x) mm, affine voxel (x, y, z) -> patient RAS mm, de-identified metadata.

    Raises:
        InvalidInputError: for anything that is not one consistent 3D volume; the message
            says why. No other exception escapes.
    """
    limits = limits or ReadLimits()
    if isinstance(source, list | tuple) or (
        isinstance(source, str | os.PathLike) and Path(source).is_dir()
    ):
        return read_dicom_stack(read_members(source, limits), limits)
    data = read_bytes(source, limits)  # type: ignore[arg-type]
    kind = sniff(data[:1024])
    if kind in ("nifti", "gzip"):
        return read_nifti_volume(data, limits)
    if kind in ("zip", "dicom"):
        members = read_members(data, limits)
        del data  # the members (or the zip's inflated files) replace it: free it now
        return read_dicom_stack(members, limits)
    if kind in ("png", "jpeg"):
        raise InvalidInputError(
            "This is a 2D image (PNG/JPEG), not a volume. Open it as a radiograph."
        )
    raise InvalidInputError(
        "The file is not a NIfTI volume, a DICOM file or a .zip of a DICOM series."
    )
