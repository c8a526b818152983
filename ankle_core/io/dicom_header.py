"""Parse DICOM bytes safely and turn a de-identified header into plain metadata.

Shared by the radiograph reader (:mod:`ankle_core.io.dicom`), the series reader
(:mod:`ankle_core.io.series`) and the audit (:mod:`ankle_core.io.audit`). Nothing here logs
or returns a header value that Table E.1-1 would remove: metadata is read from the copy
returned by :func:`ankle_core.io.deid.deidentify`.
"""

from __future__ import annotations

import io
import math
import zlib
from typing import Any

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io.deid import deidentify

__all__ = [
    "BURNED_IN_ABSENT",
    "BURNED_IN_YES",
    "PIXEL_TAGS",
    "check_deflated_size",
    "check_sequence_depth",
    "clean_header",
    "has_pixels",
    "header_facts",
    "n_frames",
    "parse_dicom",
    "pixel_spacing",
    "text",
]

PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})

#: The warnings every reader adds to ``metadata["problems"]`` for Burned In Annotation.
BURNED_IN_YES = "BurnedInAnnotation YES: text in the pixels may identify the patient"
BURNED_IN_ABSENT = "BurnedInAnnotation absent: the pixels may carry burned-in text"


def parse_dicom(data: bytes, limits: ReadLimits, *, stop_before_pixels: bool = False) -> Dataset:
    """Parse DICOM bytes, with or without the 128-byte preamble, and bound sequence nesting.

    A missing Transfer Syntax UID (a bare data set without file meta) is inferred from the
    encoding pydicom detected, so that pixel data can still be decoded.

    Args:
        data: the file's bytes (already checked against the size limit).
        limits: reader limits (``max_sequence_depth``).
        stop_before_pixels: skip the pixel data (for header-only uses).

    Returns:
        The parsed data set; elements are converted lazily, on access.

    Raises:
        InvalidInputError: when nothing DICOM-like can be parsed.
    """
    check_deflated_size(data, limits)
    ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=stop_before_pixels)
    if len(ds) == 0:
        raise InvalidInputError(
            "The file holds no DICOM attributes: it is truncated, damaged or not DICOM."
        )
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = FileMetaDataset()
        ds.file_meta = meta
    if "TransferSyntaxUID" not in meta:
        implicit, little = ds.original_encoding
        if implicit:
            meta.TransferSyntaxUID = ImplicitVRLittleEndian
        elif little is False:
            meta.TransferSyntaxUID = ExplicitVRBigEndian
        else:
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
    check_sequence_depth(ds, limits.max_sequence_depth)
    return ds


_DEFLATED = b"1.2.840.10008.1.2.1.99"


def check_deflated_size(data: bytes, limits: ReadLimits) -> None:
    """Refuse a Deflated Explicit VR Little Endian file that inflates beyond the file limit.

    pydicom inflates such a data set whole, in one call, before parsing it: a small file
    could expand to any size. The file meta group (uncompressed) is skipped by its group
    length, and the rest is inflated in bounded steps and discarded, before pydicom sees it.

    Args:
        data: the file's bytes.
        limits: reader limits (``max_file_bytes`` bounds the inflated data set).

    Raises:
        InvalidInputError: the deflated data set expands beyond the limit or is damaged.
    """
    if len(data) < 144 or data[128:132] != b"DICM" or _DEFLATED not in data[132:4096]:
        return
    if data[132:136] != b"\x02\x00\x00\x00" or data[136:138] != b"UL":
        raise InvalidInputError("The deflate-compressed DICOM file has no readable file meta.")
    start = 144 + int.from_bytes(data[140:144], "little")
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
    total, step = 0, 1 << 20
    try:
        for offset in range(start, len(data), step):
            pending = data[offset : offset + step]
            while pending and not inflate.eof:
                total += len(inflate.decompress(pending, step))
                pending = inflate.unconsumed_tail
                if total > limits.max_file_bytes:
                    raise InvalidInputError(
                        "The deflate-compressed DICOM file expands beyond "
                        f"{limits.max_file_bytes / 1e6:.0f} MB, the limit set for this "
                        "workbench; it was not opened."
                    )
            if inflate.eof:
                break
    except zlib.error as exc:
        raise InvalidInputError("The deflate-compressed DICOM file is damaged.") from exc


def check_sequence_depth(ds: Dataset, max_depth: int) -> None:
    """Refuse a data set whose sequences nest deeper than ``max_depth`` (iteratively).

    Args:
        ds: a parsed data set.
        max_depth: deepest nesting accepted (a top-level sequence is depth 1).

    Raises:
        InvalidInputError: when the nesting is deeper.
    """
    stack: list[tuple[Dataset, int]] = [(ds, 0)]
    while stack:
        current, depth = stack.pop()
        for elem in current:
            if elem.VR != "SQ":
                continue
            if depth + 1 > max_depth:
                raise InvalidInputError(
                    f"The DICOM header nests sequences more than {max_depth} levels deep; it "
                    "was refused as unsafe to read."
                )
            stack.extend((item, depth + 1) for item in elem.value)


def has_pixels(ds: Dataset) -> bool:
    """True when the data set carries an image (pixel data and a size)."""
    return any(tag in ds for tag in PIXEL_TAGS) and "Rows" in ds and "Columns" in ds


def n_frames(ds: Dataset) -> int:
    """Number of frames (1 when NumberOfFrames is absent or empty)."""
    value = ds.get("NumberOfFrames", 1)
    try:
        return max(int(value or 1), 1)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError("The DICOM header's NumberOfFrames is not a number.") from exc


def clean_header(ds: Dataset, limits: ReadLimits) -> Dataset:
    """De-identified copy of ``ds`` without its pixel data (cheap to copy).

    Args:
        ds: a parsed data set.
        limits: reader limits (sequence depth).

    Returns:
        The de-identified header.
    """
    header = Dataset()
    for elem in ds:
        if int(elem.tag) not in PIXEL_TAGS:
            header.add(elem)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        header.file_meta = meta
    return deidentify(header, limits=limits)


def text(value: Any) -> str | None:
    """A header value as plain text (multi-values joined with a backslash), None if empty."""
    if value is None:
        return None
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        joined = "\\".join(str(v) for v in value)
        return joined or None
    out = str(value).strip()
    return out or None


def _uid_name(value: Any) -> str | None:
    if not value:
        return None
    uid = UID(str(value))
    return str(uid.name) if uid.name else str(uid)


def header_facts(clean: Dataset) -> dict[str, Any]:
    """Plain, JSON-able facts from a *de-identified* header.

    Args:
        clean: a header returned by :func:`clean_header` or
            :func:`ankle_core.io.deid.deidentify`.

    Returns:
        ``modality``, ``body_part``, ``view_position``, ``laterality``, ``manufacturer``,
        ``photometric_interpretation``, ``bits_stored``, ``sop_class``, ``transfer_syntax``,
        ``burned_in_annotation`` (``"YES"``, ``"NO"`` or ``"unknown"``) and ``n_frames``.
    """
    meta = getattr(clean, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    burned = (text(clean.get("BurnedInAnnotation")) or "").upper()
    bits = clean.get("BitsStored")
    return {
        "modality": text(clean.get("Modality")),
        "body_part": text(clean.get("BodyPartExamined")),
        "view_position": text(clean.get("ViewPosition")),
        "laterality": text(clean.get("ImageLaterality")) or text(clean.get("Laterality")),
        "manufacturer": text(clean.get("Manufacturer")),
        "photometric_interpretation": text(clean.get("PhotometricInterpretation")),
        "bits_stored": int(bits) if bits is not None else None,
        "sop_class": _uid_name(clean.get("SOPClassUID")),
        "transfer_syntax": _uid_name(tsyntax),
        "burned_in_annotation": burned if burned in ("YES", "NO") else "unknown",
        "n_frames": n_frames(clean),
    }


def pixel_spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str | None, list[str]]:
    """Row and column spacing from PixelSpacing, else ImagerPixelSpacing.

    A zero, negative, non-finite or malformed value counts as unknown.

    Args:
        ds: a data set (original or de-identified; neither attribute is removed).

    Returns:
        ``((row_mm, col_mm) or None, source keyword or None, problems in words)``.
    """
    problems: list[str] = []
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        if keyword not in ds:
            continue
        raw = ds[keyword].value
        values: list[float] = []
        try:
            items = list(raw) if raw is not None and not isinstance(raw, str | bytes) else [raw]
            values = [float(v) for v in items if v is not None]
        except (TypeError, ValueError):
            values = []
        if len(values) == 2 and all(math.isfinite(v) and v > 0 for v in values):
            return (values[0], values[1]), keyword, problems
        shown = "\\".join(f"{v:g}" for v in values) if values else "empty or malformed"
        problems.append(f"{keyword} is {shown}: spacing unknown")
    return None, None, problems
