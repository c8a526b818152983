"""Turn what a caller hands a reader (path, bytes, file object, folder, zip, list) into bytes.

Every read is bounded by :class:`~ankle_core.config.ReadLimits` *before* the bytes are
read: file sizes come from ``stat`` or the upload's size, ``.zip`` members are checked on
their declared sizes, count and compression ratio (every member above 64 KiB, and the archive
as a whole) and then read with a byte cap, and
nothing is ever extracted to disk. Formats are recognised by their content (magic bytes),
never by their file name.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, TypeAlias

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io._guard import check_byte_size

__all__ = [
    "Format",
    "Member",
    "Source",
    "gunzip_bounded",
    "is_zip",
    "read_bytes",
    "read_members",
    "sniff",
]

Source: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO
Format = Literal["dicom", "png", "jpeg", "nifti", "gzip", "zip", "unknown"]

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GZIP = b"\x1f\x8b"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_VRS = {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
    b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST",
    b"SV", b"TM", b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
}  # fmt: skip


@dataclass(frozen=True)
class Member:
    """One file of a multi-file input (folder, list or zip).

    Attributes:
        name: a display name without directories that could carry identifiers
            (``"file 3"``, or the base name for caller-given paths).
        data: the file's bytes, read under the limits.
    """

    name: str
    data: bytes


def sniff(head: bytes) -> Format:
    """Recognise a file format from its first bytes.

    Args:
        head: the first 540 bytes (or more) of the file.

    Returns:
        ``"dicom"`` (with the 128-byte preamble and ``DICM``, or a bare dataset that starts
        with a group 0002/0008 element), ``"png"``, ``"jpeg"``, ``"nifti"`` (NIfTI-1 or
        -2, uncompressed), ``"gzip"``, ``"zip"`` or ``"unknown"``.

    >>> sniff(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8))
    'png'
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(_PNG):
        return "png"
    if head.startswith(_JPEG):
        return "jpeg"
    if head.startswith(_GZIP):
        return "gzip"
    if head.startswith(_ZIP):
        return "zip"
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "nifti"
    if len(head) >= 12 and head[4:8] in (b"n+2\x00", b"ni2\x00"):
        return "nifti"
    if _looks_like_bare_dicom(head):
        return "dicom"
    return "unknown"


def _looks_like_bare_dicom(head: bytes) -> bool:
    """A DICOM dataset written without preamble: first tag (0002,xxxx) or (0008,xxxx)."""
    if len(head) < 8:
        return False
    group = int.from_bytes(head[0:2], "little")
    if group not in (0x0002, 0x0008):
        return False
    if head[4:6] in _VRS:  # explicit VR little endian
        return True
    length = int.from_bytes(head[4:8], "little")  # implicit VR: a plausible value length
    return length < 1024


def read_bytes(source: Source, limits: ReadLimits) -> bytes:
    """Read a whole file, upload or buffer into memory, refusing it when it is too large.

    Args:
        source: a path (``str`` or ``Path``), bytes-like object, or binary file object
            (e.g. Streamlit's ``UploadedFile``).
        limits: reader limits (``max_file_bytes``).

    Returns:
        The file's bytes.

    Raises:
        InvalidInputError: for a missing path, a folder, an empty or oversized input, or an
            object that is none of the above.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        check_byte_size(len(data), limits)
        return data
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise InvalidInputError("The file does not exist; check the path and try again.")
        if not path.is_file():
            raise InvalidInputError("Expected a file, but the path is a folder or a device.")
        check_byte_size(path.stat().st_size, limits)
        with path.open("rb") as fh:
            return _read_capped(fh, limits.max_file_bytes)
    if hasattr(source, "read"):
        size = getattr(source, "size", None)
        if isinstance(size, int):
            check_byte_size(size, limits)
        if hasattr(source, "seek"):
            with contextlib.suppress(OSError, ValueError):
                source.seek(0)
        data = _read_capped(source, limits.max_file_bytes)
        check_byte_size(len(data), limits)
        return data
    raise InvalidInputError(
        "Unsupported input: give a file path, the file's bytes or an uploaded file."
    )


def _read_capped(fh: BinaryIO, cap: int) -> bytes:
    data = fh.read(cap + 1)
    if not isinstance(data, bytes | bytearray):
        raise InvalidInputError("The uploaded object did not return bytes when read.")
    if len(data) > cap:
        raise InvalidInputError(
            f"The file is above the limit of {cap / 1e6:.1f} MB set for this workbench."
        )
    return bytes(data)


def gunzip_bounded(data: bytes, cap: int) -> bytes:
    """Decompress gzip data, refusing output larger than ``cap`` bytes (gzip-bomb guard).

    Args:
        data: gzip-compressed bytes.
        cap: most decompressed bytes accepted.

    Returns:
        The decompressed bytes.

    Raises:
        InvalidInputError: when the output would exceed ``cap`` or the stream is damaged.
    """
    dec = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = dec.decompress(data, cap + 1)
    except zlib.error as exc:
        raise InvalidInputError("The compressed (.gz) file is damaged.") from exc
    if len(out) > cap or dec.unconsumed_tail:
        raise InvalidInputError(
            f"The compressed file expands beyond {cap / 1e6:.0f} MB, the limit set for this "
            "workbench."
        )
    if not dec.eof:
        raise InvalidInputError("The compressed (.gz) file is truncated.")
    return out


def is_zip(data: bytes) -> bool:
    """True when ``data`` starts like a zip archive."""
    return data[:4] in _ZIP


def _zip_members(data: bytes, limits: ReadLimits) -> list[Member]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InvalidInputError("The .zip file is damaged or incomplete.") from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > limits.max_zip_members:
            raise InvalidInputError(
                f"The .zip holds {len(infos)} files, above the limit of {limits.max_zip_members}."
            )
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_zip_bytes:
            raise InvalidInputError(
                f"The .zip expands to {declared / 1e6:.0f} MB, above the limit of "
                f"{limits.max_zip_bytes / 1e6:.0f} MB."
            )
        packed = sum(i.compress_size for i in infos)
        for info in infos:
            if info.file_size > limits.max_file_bytes:
                raise InvalidInputError("A file inside the .zip is above the size limit.")
            # Every member, however small (2,000 members of 1 MiB each add up), and the total.
            # A member of a few KB may compress well beyond the ratio, so the smallest are
            # judged on an allowance of 64 KiB rather than their own size.
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > 64 * 1024 and ratio > limits.max_zip_ratio:
                raise InvalidInputError(_ZIP_BOMB)
            if info.flag_bits & 0x1:
                raise InvalidInputError("The .zip is password-protected; export it without.")
        if declared > 64 * 1024 and declared / max(packed, 1) > limits.max_zip_ratio:
            raise InvalidInputError(_ZIP_BOMB)
        members: list[Member] = []
        total = 0
        for k, info in enumerate(infos):
            base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            if base.startswith(".") or "__MACOSX" in info.filename:
                continue
            with archive.open(info) as fh:
                # Declared sizes can lie: never read more than declared (+1 to notice).
                blob = fh.read(info.file_size + 1)
            if len(blob) > info.file_size:
                raise InvalidInputError("A file inside the .zip is larger than it declares.")
            total += len(blob)
            if total > limits.max_zip_bytes:
                raise InvalidInputError("The .zip expands beyond the size limit.")
            if blob:
                members.append(Member(name=f"zip member {k + 1}", data=blob))
        return members


_ZIP_BOMB = "The .zip is compressed suspiciously well (a possible zip bomb) and was not opened."


def _folder_files(folder: Path, limits: ReadLimits) -> list[Path]:
    files: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            files.append(Path(root) / name)
            if len(files) > limits.max_series_files:
                raise InvalidInputError(
                    f"The folder holds more than {limits.max_series_files} files, the limit "
                    "for one series."
                )
    return files


def read_members(
    source: Source | Sequence[str | os.PathLike[str] | bytes],
    limits: ReadLimits,
) -> list[Member]:
    """Collect the files of a multi-file input, in memory, under the limits.

    Args:
        source: a folder (recursed), a ``.zip`` (path, bytes or file object), or a list of
            paths and/or bytes.
        limits: reader limits.

    Returns:
        The members, in a stable order (which carries no meaning: series are sorted by
        position later).

    Raises:
        InvalidInputError: for a missing path, too many files, an oversized file, or a
            damaged or suspicious zip.
    """
    if isinstance(source, list | tuple):
        if len(source) > limits.max_series_files:
            raise InvalidInputError(
                f"{len(source)} files were given, above the limit of "
                f"{limits.max_series_files} for one series."
            )
        return list(_members_of_list(source, limits))
    if isinstance(source, str | os.PathLike) and Path(source).is_dir():
        paths = _folder_files(Path(source), limits)
        return list(_members_of_list(paths, limits))
    data = read_bytes(source, limits)  # type: ignore[arg-type]
    if is_zip(data):
        return _zip_members(data, limits)
    return [Member(name="file 1", data=data)]


def _members_of_list(
    items: Iterable[str | os.PathLike[str] | bytes], limits: ReadLimits
) -> Iterable[Member]:
    for k, item in enumerate(items):
        if isinstance(item, str | os.PathLike) and Path(item).is_file():
            with Path(item).open("rb") as fh:
                head = fh.read(1024)
            if sniff(head) not in ("dicom", "zip"):
                # Not part of a series (text, DICOMDIR-free junk, video...): never read whole.
                yield Member(name=f"file {k + 1}", data=head)
                continue
        data = read_bytes(item, limits)
        if is_zip(data):
            yield from _zip_members(data, limits)
        else:
            yield Member(name=f"file {k + 1}", data=data)
