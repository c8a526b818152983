"""What a compressed DICOM frame says about itself, read before any decoder sees it.

pylibjpeg's JPEG, JPEG-LS and JPEG 2000 decoders allocate the image size written inside the
codestream, not the Rows/Columns of the DICOM header: a 6 KB file whose codestream claims
50000 x 50000 pixels makes them allocate gigabytes. :func:`check_encapsulated_frames` reads
each frame's own header (JPEG and JPEG-LS start-of-frame, JPEG 2000 SIZ in a bare codestream
or inside a JP2 box wrapper, the RLE segment table) and refuses the data set when a frame
declares more than the limits allow or disagrees with Rows, Columns or Samples per Pixel.
Nothing here decodes a pixel; each frame's header is a few hundred bytes at most.

References: ITU-T T.81 (JPEG) B.1-B.2; ITU-T T.87 (JPEG-LS) C.2.2; ITU-T T.800 (JPEG 2000)
A.5.1 and I.5; DICOM PS3.5 G.3 and G.5 (RLE).
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import UID, RLELossless

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError

__all__ = [
    "DeclaredSize",
    "check_encapsulated_frames",
    "jpeg2000_size",
    "jpeg_size",
    "rle_segments",
]

_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_SOF55 = 0xF7  # JPEG-LS start of frame
_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RST0-7, SOI
_SOS, _EOI = 0xDA, 0xD9
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_MAX_COMPONENTS = 4

_DAMAGED = (
    "The compressed image data is damaged: its {kind} header cannot be read. Export the image "
    "again from the PACS or the modality and retry."
)
_DISAGREES = (
    "The compressed image data declares {declared} but the DICOM header says {header}: the "
    "file is inconsistent (possibly crafted) and was not decoded."
)


@dataclass(frozen=True)
class DeclaredSize:
    """The image size a codestream declares for itself.

    Attributes:
        rows: lines (image height), in pixels.
        cols: samples per line (image width), in pixels.
        components: colour components (samples per pixel).
        kind: ``"JPEG"``, ``"JPEG-LS"`` or ``"JPEG 2000"``.
    """

    rows: int
    cols: int
    components: int
    kind: str


def jpeg_size(frame: bytes) -> DeclaredSize:
    """Read the frame header of a JPEG (T.81) or JPEG-LS (T.87) codestream.

    Markers are walked from SOI: stand-alone markers (RSTn, TEM) have no length, fill bytes
    (``0xFF`` repeated) are skipped, every other segment is skipped by its length, up to the
    first SOFn / SOF55. Reaching SOS or EOI first means there is no frame header.

    Args:
        frame: one frame's codestream, starting with SOI (``FF D8``).

    Returns:
        The declared size.

    Raises:
        InvalidInputError: not a JPEG codestream, truncated, or a frame of zero lines (the
            line count deferred to a DNL marker is refused: it cannot be checked up front).

    >>> sof = b"\\xff\\xc0\\x00\\x0b\\x08\\x00\\x10\\x00\\x20\\x01\\x01\\x11\\x00"
    >>> jpeg_size(b"\\xff\\xd8" + sof)
    DeclaredSize(rows=16, cols=32, components=1, kind='JPEG')
    """
    if frame[:2] != b"\xff\xd8":
        raise InvalidInputError(_DAMAGED.format(kind="JPEG"))
    pos, end = 2, len(frame)
    while pos < end:
        if frame[pos] != 0xFF:
            raise InvalidInputError(_DAMAGED.format(kind="JPEG"))
        while pos < end and frame[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= end:
            break
        marker = frame[pos]
        pos += 1
        if marker in _NO_LENGTH:
            continue
        if marker in (_SOS, _EOI):
            break
        if pos + 2 > end:
            break
        (length,) = struct.unpack(">H", frame[pos : pos + 2])
        if length < 2:
            break
        if marker in _SOF or marker == _SOF55:
            if pos + 8 > end:
                break
            lines, samples, comps = struct.unpack(">HHB", frame[pos + 3 : pos + 8])
            kind = "JPEG-LS" if marker == _SOF55 else "JPEG"
            if lines == 0 or samples == 0 or comps == 0:
                raise InvalidInputError(
                    f"The {kind} image data does not state its size in its frame header; it "
                    "cannot be checked before decoding and was refused."
                )
            return DeclaredSize(rows=lines, cols=samples, components=comps, kind=kind)
        pos += length
    raise InvalidInputError(_DAMAGED.format(kind="JPEG"))


def jpeg2000_size(frame: bytes) -> DeclaredSize:
    """Read the SIZ marker of a JPEG 2000 codestream, bare or inside a JP2 file.

    In a JP2 file the top-level boxes are walked to the contiguous codestream box
    (``jp2c``); the decoder sizes its buffers from that codestream's SIZ, so that is what
    is checked. The image is ``(Xsiz - XOsiz) x (Ysiz - YOsiz)``.

    Args:
        frame: one frame, starting with SOC (``FF 4F``) or the JP2 signature box.

    Returns:
        The declared size.

    Raises:
        InvalidInputError: no SIZ where T.800 requires it, or a truncated header.
    """
    if frame.startswith(_JP2_SIGNATURE):
        frame = _jp2_codestream(frame)
    if frame[:4] != b"\xff\x4f\xff\x51" or len(frame) < 4 + 38:
        raise InvalidInputError(_DAMAGED.format(kind="JPEG 2000"))
    xsiz, ysiz, xo, yo = struct.unpack(">IIII", frame[8:24])
    (csiz,) = struct.unpack(">H", frame[40:42])
    if xsiz <= xo or ysiz <= yo or csiz == 0:
        raise InvalidInputError(_DAMAGED.format(kind="JPEG 2000"))
    return DeclaredSize(rows=ysiz - yo, cols=xsiz - xo, components=csiz, kind="JPEG 2000")


def _jp2_codestream(data: bytes) -> bytes:
    pos = 0
    while pos + 8 <= len(data):
        length, box = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if length == 1:  # 64-bit XLBox follows
            if pos + 16 > len(data):
                break
            (length,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        elif length == 0:  # the box runs to the end of the file
            length = len(data) - pos
        if box == b"jp2c":
            return data[pos + header : pos + length]
        if length < header:
            break
        pos += length
    raise InvalidInputError(_DAMAGED.format(kind="JPEG 2000"))


def rle_segments(frame: bytes, rows: int, cols: int, n_expected: int) -> list[int]:
    """Check a DICOM RLE frame's 64-byte header and return its segment lengths.

    Each segment holds one byte plane of ``rows x cols`` bytes (PS3.5 G.2). The header must
    announce ``n_expected`` segments (Samples per Pixel x Bits Allocated / 8), the first at
    offset 64, each after the previous and inside the frame; and each segment must be long
    enough to encode a whole plane (a PackBits run yields at most 128 bytes per 2 bytes).

    Args:
        frame: one frame's RLE data.
        rows: Rows of the DICOM header.
        cols: Columns of the DICOM header.
        n_expected: segments the header's pixel description requires.

    Returns:
        The segments' lengths in bytes.

    Raises:
        InvalidInputError: any of the above does not hold.
    """
    if len(frame) < 64:
        raise InvalidInputError(_DAMAGED.format(kind="RLE"))
    header = struct.unpack("<16I", frame[:64])
    count, offsets = header[0], list(header[1 : 1 + min(header[0], 15)])
    if count != n_expected:
        raise InvalidInputError(
            _DISAGREES.format(
                declared=f"{count} RLE segments",
                header=f"{n_expected} (samples per pixel x bytes per sample)",
            )
        )
    bounds = [*offsets, len(frame)]
    if offsets[0] != 64 or any(b <= a for a, b in itertools.pairwise(bounds)):
        raise InvalidInputError(_DAMAGED.format(kind="RLE"))
    lengths = [b - a for a, b in itertools.pairwise(bounds)]
    shortest = 2 * -(-rows * cols // 128)
    if min(lengths) < shortest:
        raise InvalidInputError(
            _DISAGREES.format(
                declared="fewer RLE bytes than a whole image needs",
                header=f"{rows} x {cols} pixels",
            )
        )
    return lengths


def check_encapsulated_frames(ds: Dataset, limits: ReadLimits) -> None:
    """Refuse compressed pixel data whose frames declare a size the header does not.

    Native (uncompressed) pixel data needs no check: its size is its length, already
    bounded by the file limit, and pydicom checks it against Rows and Columns. For
    encapsulated data every frame's codestream header is read (see the module docstring);
    a frame that is neither JPEG, JPEG-LS, JPEG 2000 nor RLE is refused, since its size
    cannot be known before decoding.

    Args:
        ds: a parsed data set with pixel data, Rows and Columns.
        limits: reader limits (``max_pixels``).

    Raises:
        InvalidInputError: a frame declares too many pixels, a size, or a number of
            components different from the header's, or its header is damaged.
    """
    meta = getattr(ds, "file_meta", None)
    tsyntax = UID(str(meta.get("TransferSyntaxUID", ""))) if meta is not None else UID("")
    if not tsyntax.is_encapsulated or "PixelData" not in ds:
        return
    rows, cols = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.get("BitsAllocated", 8) or 8)
    frames = max(int(ds.get("NumberOfFrames", 1) or 1), 1)
    n_seen = 0
    extended = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    for frame in generate_frames(ds.PixelData, number_of_frames=frames, extended_offsets=extended):
        n_seen += 1
        if n_seen > frames:
            break
        if tsyntax == RLELossless:
            rle_segments(frame, rows, cols, samples * -(-bits // 8))
            continue
        if frame[:2] == b"\xff\xd8":
            declared = jpeg_size(frame)
        elif frame[:2] == b"\xff\x4f" or frame.startswith(_JP2_SIGNATURE):
            declared = jpeg2000_size(frame)
        else:
            raise InvalidInputError(
                "The image is compressed in a form the workbench cannot check before decoding "
                "(not JPEG, JPEG-LS, JPEG 2000 or RLE); it was not opened."
            )
        _check_declared(declared, rows, cols, samples, limits)
    if n_seen < frames:
        raise InvalidInputError(
            f"The compressed image data holds {n_seen} frame(s) but the header announces "
            f"{frames}: the file is truncated or inconsistent."
        )


def _check_declared(
    declared: DeclaredSize, rows: int, cols: int, samples: int, limits: ReadLimits
) -> None:
    if declared.rows * declared.cols > limits.max_pixels or declared.components > _MAX_COMPONENTS:
        raise InvalidInputError(
            f"The compressed image data declares {declared.cols:,} x {declared.rows:,} pixels "
            f"with {declared.components} component(s), above the limits set for this "
            "workbench; it was not decoded."
        )
    if (declared.rows, declared.cols) != (rows, cols) or declared.components != samples:
        raise InvalidInputError(
            _DISAGREES.format(
                declared=f"{declared.cols} x {declared.rows} pixels ({declared.kind}, "
                f"{declared.components} component(s))",
                header=f"{cols} x {rows} pixels ({samples} sample(s) per pixel)",
            )
        )
