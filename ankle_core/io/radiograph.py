"""``read_radiograph``: one entry point for DICOM, PNG, JPEG and 2D NIfTI radiographs.

The format is recognised from the content (magic bytes, the ``DICM`` preamble or a bare
DICOM data set), never from the file name; the work is done by
:mod:`ankle_core.io.dicom` and :mod:`ankle_core.io.raster`.
"""

from __future__ import annotations

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io._guard import input_boundary
from ankle_core.io.dicom import read_dicom_radiograph
from ankle_core.io.nifti2d import read_nifti_radiograph
from ankle_core.io.raster import read_raster_radiograph
from ankle_core.io.sources import Source, read_bytes, sniff
from ankle_core.types import Radiograph

__all__ = ["read_radiograph"]


@input_boundary("radiograph")
def read_radiograph(source: Source, *, limits: ReadLimits | None = None) -> Radiograph:
    """Read a radiograph from a DICOM, PNG, JPEG or 2D NIfTI file.

    Args:
        source: a path (``str`` or ``Path``), the file's bytes, or a binary file object
            such as Streamlit's ``UploadedFile``.
        limits: reader limits; the defaults of :class:`~ankle_core.config.ReadLimits` when
            None.

    Returns:
        A :class:`~ankle_core.types.Radiograph`: pixels (H, W) float32 in [0, 1], bone
        bright; ``pixel_spacing_mm`` (row, col) in mm or None; de-identified, JSON-able
        metadata saying what was applied.

    Raises:
        InvalidInputError: for any input that cannot be read as one radiograph; the message
            says why in plain words. No other exception escapes.

    Example:
        >>> from pydicom.data import get_testdata_file
        >>> r = read_radiograph(get_testdata_file("CT_small.dcm", download=False))
        >>> r.shape, r.metadata["rescale_applied"], r.metadata["voi"]
        ((128, 128), True, 'percentile')
    """
    limits = limits or ReadLimits()
    data = read_bytes(source, limits)
    kind = sniff(data[:1024])
    if kind == "dicom":
        return read_dicom_radiograph(data, limits)
    if kind in ("png", "jpeg"):
        return read_raster_radiograph(data, kind, limits)
    if kind == "nifti" or (kind == "gzip" and _gzipped_nifti(data)):
        return read_nifti_radiograph(data, limits)  # a volume is refused with a clear message
    if kind == "gzip":
        raise InvalidInputError("This is a compressed file, not a radiograph.")
    if kind == "zip":
        raise InvalidInputError(
            "This is a .zip archive. Radiographs are read one file at a time; a zipped DICOM "
            "series can be opened as a volume."
        )
    raise InvalidInputError("The file is not a DICOM, PNG or JPEG image.")


def _gzipped_nifti(data: bytes) -> bool:
    import zlib

    try:
        head = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(data[:65536], 540)
    except zlib.error:
        return False
    return sniff(head) == "nifti"
