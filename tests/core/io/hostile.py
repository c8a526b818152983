"""Small hostile files built in memory: codestreams whose own header lies about the image size,
a gzipped NIfTI that declares 1024^3 voxels, a zip of many highly compressible members and an
RLE multi-frame object that is tiny on disk but huge decoded.

Each builder returns the file's bytes (a list of bytes for a series). They run in a few
hundred milliseconds and never write to disk, so the same builders serve the unit tests and
the subprocess that reads them under an address-space limit.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

__all__ = [
    "HOSTILE",
    "deflated_dicom",
    "gz_nifti_1024_cubed",
    "jp2_wrap",
    "jpeg2000_dicom",
    "jpeg_dicom",
    "jpegls_dicom",
    "many_member_zip",
    "rle_dicom",
    "rle_multiframe",
    "with_size",
]

SIDE = 64  # the honest image: 64 x 64 pixels (OpenJPEG needs more than 16)


def _base(rows: int, cols: int, bits: int, tsyntax: str, frames: int = 1) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = tsyntax
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    uid = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "CT"
    ds.PatientName, ds.PatientID = "Hostile^Test", "HOSTILE-1"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelSpacing = [0.5, 0.5]
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.ImagePositionPatient = [0.0, 0.0, 0.0]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.SpacingBetweenSlices = 1.0
    return ds


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def _image(bits: int = 8) -> np.ndarray:
    ramp = np.add.outer(np.arange(SIDE), np.arange(SIDE)) * 7
    return ramp.astype(np.uint8 if bits == 8 else np.uint16)


def _compressed(tsyntax: str, bits: int) -> bytes:
    ds = _base(SIDE, SIDE, bits, ExplicitVRLittleEndian)
    ds.PixelData = _image(bits).tobytes()
    ds.compress(tsyntax, encoding_plugin="pylibjpeg" if tsyntax == JPEG2000Lossless else "")
    frame: bytes = next(iter(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1)))
    return frame


def _dicom_of(frame: bytes, tsyntax: str, bits: int, rows: int = SIDE, cols: int = SIDE) -> bytes:
    ds = _base(rows, cols, bits, tsyntax)
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    return _bytes(ds)


def with_size(frame: bytes, offset: int, fmt: str, *values: int) -> bytes:
    """``frame`` with ``values`` packed big-endian (``fmt``) at ``offset``."""
    patch = struct.pack(fmt, *values)
    return frame[:offset] + patch + frame[offset + len(patch) :]


def _sof_offset(frame: bytes, markers: tuple[int, ...]) -> int:
    pos = 2
    while True:
        marker, length = frame[pos + 1], struct.unpack(">H", frame[pos + 2 : pos + 4])[0]
        if marker in markers:
            return pos + 5  # FF xx, Lf (2), P (1) -> Y
        pos += 2 + length


def jpeg_dicom(rows: int = SIDE, cols: int = SIDE, *, junk_markers: bool = False) -> bytes:
    """A baseline JPEG (Pillow) in a DICOM of 64 x 64, its SOF patched to ``rows x cols``.

    With ``junk_markers``, an APP15 and a COM segment and fill bytes precede the frame
    header, so the reader must skip markers by their lengths to find it.
    """
    buf = io.BytesIO()
    Image.fromarray(_image()).save(buf, format="JPEG", quality=95)
    frame = buf.getvalue()
    frame = with_size(frame, _sof_offset(frame, (0xC0,)), ">HH", rows, cols)
    if junk_markers:
        junk = b"\xff\xef\x00\x06\xff\xc0\x00\x00" + b"\xff\xff\xfe\x00\x05abc"
        frame = frame[:2] + junk + frame[2:]
    return _dicom_of(frame, JPEGBaseline8Bit, 8)


def jpegls_dicom(rows: int = SIDE, cols: int = SIDE) -> bytes:
    """A JPEG-LS lossless frame of 64 x 64, its SOF55 patched to ``rows x cols``."""
    frame = _compressed(JPEGLSLossless, 16)
    at = _sof_offset(frame, (0xF7,))
    return _dicom_of(with_size(frame, at, ">HH", rows, cols), JPEGLSLossless, 16)


def jp2_wrap(codestream: bytes) -> bytes:
    """Wrap a J2K codestream in a minimal JP2 file (signature, ftyp, jp2h/ihdr, jp2c)."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    ihdr = box(b"ihdr", struct.pack(">IIHBBBB", SIDE, SIDE, 1, 15, 7, 0, 0))
    return (
        b"\x00\x00\x00\x0cjP  \r\n\x87\n"
        + box(b"ftyp", b"jp2 \x00\x00\x00\x00jp2 ")
        + box(b"jp2h", ihdr)
        + box(b"jp2c", codestream)
    )


def jpeg2000_dicom(rows: int = SIDE, cols: int = SIDE, *, jp2: bool = False) -> bytes:
    """A JPEG 2000 lossless frame of 64 x 64, its SIZ patched to ``cols x rows``."""
    frame = _compressed(JPEG2000Lossless, 16)
    frame = with_size(frame, 8, ">II", cols, rows)  # Xsiz, Ysiz (offsets are 0)
    return _dicom_of(jp2_wrap(frame) if jp2 else frame, JPEG2000Lossless, 16)


def rle_dicom(*, segments: int | None = None, rows: int = SIDE) -> bytes:
    """A 16-bit RLE frame of 64 x 64; ``segments`` rewrites its segment count, ``rows`` the
    DICOM Rows (so that the segments are too short for the image the header claims)."""
    frame = _compressed(RLELossless, 16)
    if segments is not None:
        frame = struct.pack("<I", segments) + frame[4:]
    return _dicom_of(frame, RLELossless, 16, rows=rows)


def rle_multiframe(frames: int = 600, side: int = 1024) -> bytes:
    """An RLE multi-frame CT of ``frames`` x ``side``^2 uint16, about 32 KB a frame on disk:
    600 frames of 1024^2 is 19 MB of file for 2.5 GB of float32."""
    ds = _base(side, side, 16, ExplicitVRLittleEndian)
    ds.PixelData = np.zeros((side, side), dtype=np.uint16).tobytes()
    ds.compress(RLELossless)
    frame = next(iter(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1)))
    out = _base(side, side, 16, RLELossless, frames=frames)
    out.PixelData = encapsulate([frame] * frames)
    out["PixelData"].VR = "OB"
    return _bytes(out)


def gz_nifti_1024_cubed() -> bytes:
    """A valid gzip of a NIfTI-1 header declaring 1024^3 uint8 plus 1 GiB of zeros, ~1 MB.

    Deflate is reset (full flush) after each 1 MiB of zeros, so one compressed chunk is
    repeated rather than 1 GiB compressed; the gzip trailer's CRC and size are exact.
    """
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape((1024, 1024, 1024))
    header.set_data_dtype(np.uint8)
    header.set_qform(np.eye(4), code=1)
    header["vox_offset"] = 352
    head = header.binaryblock + b"\x00" * 4
    zeros = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = [deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)]
    chunk = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    body.extend([chunk] * 1024)
    body.append(deflate.flush())
    crc = zlib.crc32(head)
    for _ in range(1024):
        crc = zlib.crc32(zeros, crc)
    size = (len(head) + (1 << 30)) & 0xFFFFFFFF
    return (
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + b"".join(body) + struct.pack("<II", crc, size)
    )


def deflated_dicom(padding: int = 2**31) -> bytes:
    """A Deflated Explicit VR Little Endian DICOM (64 x 64 image) whose data set ends with
    ``padding`` bytes of Data Set Trailing Padding: about 2 MB on disk for 2 GiB inflated."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = _base(SIDE, SIDE, 8, DeflatedExplicitVRLittleEndian)
    ds.PixelData = _image().tobytes()
    whole = _bytes(ds)
    meta_end = 144 + int.from_bytes(whole[140:144], "little")
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    prefix = body.getvalue() + b"\xfc\xff\xfc\xffOB\x00\x00" + struct.pack("<I", padding)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = [deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)]
    chunk_size = 1 << 20
    chunk = deflate.compress(bytes(chunk_size)) + deflate.flush(zlib.Z_FULL_FLUSH)
    stream.extend([chunk] * (padding // chunk_size))
    stream.append(deflate.compress(bytes(padding % chunk_size)) + deflate.flush())
    return whole[:meta_end] + b"".join(stream)


def many_member_zip(members: int = 2000, member_bytes: int = 1 << 20) -> bytes:
    """A zip of ``members`` files of ``member_bytes`` zeros each (deflated), built by hand
    from one compressed member so that 2 GiB of content costs no compression time."""
    data = bytes(member_bytes)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = deflate.compress(data) + deflate.flush()
    crc = zlib.crc32(data)
    local, central = io.BytesIO(), io.BytesIO()
    for k in range(members):
        name = f"slice{k:05d}.dcm".encode()
        offset = local.tell()
        local.write(
            struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(packed),
                        member_bytes, len(name), 0)
            + name + packed
        )  # fmt: skip
        central.write(
            struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(packed),
                        member_bytes, len(name), 0, 0, 0, 0, 0, offset)
            + name
        )  # fmt: skip
    directory = central.getvalue()
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, members, members, len(directory), local.tell(), 0
    )
    return local.getvalue() + directory + end


#: name -> (reader, builder, words the refusal must contain). Reader is "radiograph" or
#: "volume". Used by the unit tests and the address-space-limited subprocess.
HOSTILE: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "jpeg_50000": ("radiograph", lambda: jpeg_dicom(50000, 50000), "declares"),
    "jpeg_lie_small": ("radiograph", lambda: jpeg_dicom(16, 32, junk_markers=True), "declares"),
    "jpegls_50000": ("radiograph", lambda: jpegls_dicom(50000, 50000), "declares"),
    "j2k_50000": ("radiograph", lambda: jpeg2000_dicom(50000, 50000), "declares"),
    "jp2_50000": ("radiograph", lambda: jpeg2000_dicom(50000, 50000, jp2=True), "declares"),
    "rle_segments": ("radiograph", lambda: rle_dicom(segments=8), "RLE segments"),
    "rle_short": ("radiograph", lambda: rle_dicom(rows=4096), "fewer RLE bytes"),
    "rle_multiframe": ("volume", lambda: rle_multiframe(), "memory"),
    "nifti_1024_cubed": ("volume", lambda: gz_nifti_1024_cubed(), "memory"),
    "deflated_2gib": ("radiograph", lambda: deflated_dicom(), "expands beyond"),
    "zip_2000_x_1mib": ("volume", lambda: many_member_zip(), "expands to"),
    "zip_1000_x_1mib": ("volume", lambda: many_member_zip(1000), "zip bomb"),
}
