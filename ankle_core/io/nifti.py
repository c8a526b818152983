"""NIfTI-1 and NIfTI-2 volumes (``.nii`` and ``.nii.gz``), from bytes, through nibabel.

The header is checked before the data: three spatial dimensions (a 4th of length 1 is
dropped; 4D series are refused), a voxel count within the limits, the memory the read needs
(the raw voxels plus the float32 result, within ``max_decoded_bytes``) and, for gzip, a
decompressed size bounded by what the header declares. All of this is checked on the header
alone, before the data is decompressed or any array allocated; the conversion to float32
then runs one slice at a time, so no float64 or transposed copy of the volume is made.
nibabel's (i, j, k) array becomes (k, j, i) = (z, y, x) and its affine (sform or qform, as
nibabel picks) is kept as is, which is exactly the convention of
:class:`~ankle_core.types.Volume`. Header text fields
(``descrip``, ``aux_file``, ``intent_name``) are never read: they can hold identifiers.
"""

from __future__ import annotations

import io
import zlib
from typing import Any

import nibabel as nib
import numpy as np

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io._guard import check_decoded_bytes, check_voxel_count
from ankle_core.io.geometry import orientation_code
from ankle_core.io.sources import sniff
from ankle_core.types import Volume

__all__ = ["read_nifti_volume"]

_HEADER_BYTES = 540  # NIfTI-2 header size; NIfTI-1 needs 348
_SLACK = 1 << 20  # room for a header extension beyond what the header declares


def read_nifti_volume(data: bytes, limits: ReadLimits) -> Volume:
    """Read a NIfTI-1/-2 file (plain or gzip) as a :class:`~ankle_core.types.Volume`.

    Args:
        data: the file's bytes, gzip-compressed or not.
        limits: reader limits.

    Returns:
        The volume: array (z, y, x) float32 with the header's scaling applied; spacing
        (z, y, x) mm from the affine's columns; affine voxel (x, y, z) -> RAS mm.

    Raises:
        InvalidInputError: not NIfTI, not 3D, too large, non-finite values or affine.
    """
    buffer: memoryview
    if data[:2] == b"\x1f\x8b":
        # A prefix only: decompress() keeps the unconsumed input as a copy.
        head = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(data[:65536], _HEADER_BYTES)
        needed = _declared_size(head, limits)
        buffer = _gunzip_into(data, min(needed + _SLACK, limits.max_zip_bytes))
    else:
        _declared_size(data[:_HEADER_BYTES], limits)
        buffer = memoryview(data)
    two = bytes(buffer[4:8]) in (b"n+2\x00", b"ni2\x00")
    kind: Any = nib.Nifti2Image if two else nib.Nifti1Image
    # The header (and its extensions) only: the voxels are viewed in place, never copied.
    offset = int(nifti_header(bytes(buffer[:_HEADER_BYTES])).get_data_offset())
    # Header extensions end at vox_offset; some writers overrun it slightly, so allow 1 MiB.
    img = kind.from_bytes(bytes(buffer[: max(offset, 544) + _SLACK]))
    full_shape = tuple(int(n) for n in img.shape)
    shape = full_shape[:3] if len(full_shape) == 4 and full_shape[3] == 1 else full_shape
    _check_shape(shape)
    check_voxel_count(shape, limits)
    dtype = np.dtype(img.get_data_dtype())
    if dtype.kind not in "iuf":
        raise InvalidInputError("The NIfTI voxels are not plain numbers (e.g. RGB or complex).")
    count = int(np.prod(full_shape))
    if offset + count * dtype.itemsize > len(buffer):
        raise InvalidInputError("The NIfTI file is truncated: it holds fewer voxels than declared.")
    voxels = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset).reshape(
        shape, order="F"
    )
    # nibabel's reading of the header's scl_slope/scl_inter (0 or NaN slope means none).
    slope = float(getattr(img.dataobj, "slope", 1.0))
    inter = float(getattr(img.dataobj, "inter", 0.0))
    # (z, y, x) = the transpose of nibabel's (i, j, k), filled one k-slice at a time.
    out = np.empty((shape[2], shape[1], shape[0]), dtype=np.float32)
    for k in range(shape[2]):
        plane = voxels[:, :, k].astype(np.float64)
        if slope != 1.0 or inter != 0.0:
            plane = plane * slope + inter
        out[k] = plane.T
        if not np.isfinite(out[k]).all():
            raise InvalidInputError(
                "The NIfTI volume contains NaN or infinite voxel values; it cannot be analysed."
            )
    del voxels, buffer
    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise InvalidInputError("The NIfTI header's orientation (affine) is not valid.")
    zooms = np.linalg.norm(affine[:3, :3], axis=0)  # (i, j, k) mm
    # nibabel moves the header's scl_slope/scl_inter onto the array proxy when loading.
    slope = float(getattr(img.dataobj, "slope", 1.0))
    inter = float(getattr(img.dataobj, "inter", 0.0))
    meta: dict[str, Any] = {
        "modality": None,
        "manufacturer": None,
        "n_slices": shape[2],
        "spacing_source": "NIfTI header",
        "orientation": orientation_code(affine),
        "rescale_applied": slope != 1.0 or inter != 0.0,
        "transfer_syntax": None,
        "nifti_version": 2 if kind is nib.Nifti2Image else 1,
        "source_format": "nifti",
        "problems": [],
    }
    out.setflags(write=False)  # the reader's own array: the Volume keeps it, no copy
    return Volume(
        array=out,
        spacing_mm=(float(zooms[2]), float(zooms[1]), float(zooms[0])),
        affine=affine,
        metadata=meta,
    )


def _gunzip_into(data: bytes, cap: int) -> memoryview:
    """Decompress gzip into one buffer of ``cap`` bytes at most (no doubling, no final copy).

    Raises:
        InvalidInputError: output beyond ``cap``, or a damaged or truncated stream.
    """
    out = bytearray(cap)
    view, pos = memoryview(out), 0
    dec = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    step = 1 << 20
    try:
        for start in range(0, len(data), step):
            pending = data[start : start + step]
            while pending and not dec.eof:
                chunk = dec.decompress(pending, step)
                pending = dec.unconsumed_tail
                if pos + len(chunk) > cap:
                    raise InvalidInputError(
                        f"The compressed file expands beyond {cap / 1e6:.0f} MB, more than its "
                        "header declares."
                    )
                view[pos : pos + len(chunk)] = chunk
                pos += len(chunk)
            if dec.eof:
                break
        while not dec.eof:  # output zlib still holds after the last input
            chunk = dec.decompress(b"", step)
            if not chunk:
                break
            if pos + len(chunk) > cap:
                raise InvalidInputError("The compressed file expands beyond its declared size.")
            view[pos : pos + len(chunk)] = chunk
            pos += len(chunk)
    except zlib.error as exc:
        raise InvalidInputError("The compressed (.gz) file is damaged.") from exc
    if not dec.eof:
        raise InvalidInputError("The compressed (.gz) file is truncated.")
    return view[:pos]


def _check_shape(shape: tuple[int, ...]) -> None:
    if len(shape) > 3:
        raise InvalidInputError(
            f"The NIfTI file is {len(shape)}D (shape {shape}), e.g. a time series; a single 3D "
            "volume is expected."
        )
    if len(shape) < 3 or min(shape) < 2:
        raise InvalidInputError(
            f"The NIfTI file holds a 2D image (shape {shape}), not a volume. Open a single "
            "image as a radiograph."
        )


def nifti_header(head: bytes) -> Any:
    """The fixed-size NIfTI-1 or NIfTI-2 header at the start of ``head`` (no extensions).

    Args:
        head: the file's first bytes (at least 540 for NIfTI-2, 348 for NIfTI-1).

    Returns:
        A ``nibabel`` ``Nifti1Header`` or ``Nifti2Header``.

    Raises:
        InvalidInputError: ``head`` does not start with a NIfTI header.
    """
    if sniff(head) != "nifti":
        raise InvalidInputError("The file is not a NIfTI image (no NIfTI header found).")
    two = head[4:8] in (b"n+2\x00", b"ni2\x00")
    header_cls: Any = nib.Nifti2Header if two else nib.Nifti1Header
    return header_cls.from_fileobj(io.BytesIO(head[: 540 if two else 348]))


def _declared_size(head: bytes, limits: ReadLimits) -> int:
    """Bytes the header says the file holds (vox_offset + voxels x bytes per voxel)."""
    # Only the fixed-size header: extensions are read later, with the whole file.
    header = nifti_header(head)
    dims = tuple(int(n) for n in header.get_data_shape())
    check_voxel_count(dims or (0,), limits)
    n_vox = int(np.prod(dims))
    bytes_per_voxel = int(np.dtype(header.get_data_dtype()).itemsize)
    # Held at once: the raw voxels, the float32 result and one slice's float64 copy.
    plane = int(dims[0]) * int(dims[1]) if len(dims) >= 2 else n_vox
    check_decoded_bytes(n_vox * (bytes_per_voxel + 4) + plane * 8, limits, "volume")
    return int(header.get_data_offset()) + n_vox * bytes_per_voxel
