"""Hand a retrieved image or series to code that takes files: bytes, and a hash of its UIDs.

The dashboard analyses files by their bytes and records each case under a sha256; for a
PACS image that hash is :func:`uids_sha256` of its Study, Series (and SOP) Instance UIDs,
so the case history holds the UIDs hashed, never in clear and never the patient identity.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence

from pydicom.dataset import Dataset

from ankle_core.pacs.client import dataset_bytes

__all__ = ["series_zip", "uids_sha256"]


def uids_sha256(*uids: str) -> str:
    """sha256 hex digest of UIDs joined by ``|`` (order matters).

    >>> uids_sha256("1.2", "1.2.3")[:12]
    '03b10e6fcd67'
    """
    return hashlib.sha256("|".join(uids).encode("ascii", "replace")).hexdigest()


def series_zip(datasets: Sequence[Dataset]) -> bytes:
    """A series' instances as an in-memory ``.zip`` of Part 10 files (what ``read_volume`` takes).

    Args:
        datasets: the slices.

    Returns:
        The zip's bytes (members ``slice-0001.dcm``, ...; names carry no identifier).
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for index, ds in enumerate(datasets, start=1):
            archive.writestr(f"slice-{index:04d}.dcm", dataset_bytes(ds))
    return buffer.getvalue()
