"""Retrieved DICOM data sets -> the readers' typed images, skipping what cannot be read.

The data sets are serialised to Part 10 bytes and handed to
:func:`~ankle_core.io.read_radiograph` / :func:`~ankle_core.io.read_volume`, which
de-identify what they return. The original data sets are kept beside the images, in
memory only, because exporting a result needs the source's patient and study attributes
to file it in the right study.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pixel_array

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io import read_radiograph, read_volume
from ankle_core.io.codestream import check_encapsulated_frames
from ankle_core.pacs.client import dataset_bytes
from ankle_core.types import Radiograph, Volume

__all__ = ["SourceImage", "SourceVolume", "load_radiographs", "load_volume"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceImage:
    """One radiograph read from the PACS, with its original data set.

    Attributes:
        dataset: the retrieved data set (identity included; memory only, never shown).
        radiograph: what the reader made of it (de-identified).
        label: a display label without identifiers, e.g. ``"series #1 image 1"``.
    """

    dataset: Dataset = field(repr=False)
    radiograph: Radiograph
    label: str


@dataclass(frozen=True)
class SourceVolume:
    """One CT series read from the PACS, with its original slices.

    Attributes:
        datasets: the retrieved slices (identity included; memory only, never shown).
        volume: what the reader made of them (de-identified).
        label: a display label without identifiers, e.g. ``"series #2 CT"``.
    """

    datasets: tuple[Dataset, ...] = field(repr=False)
    volume: Volume
    label: str


def _number(ds: Dataset, keyword: str, default: int) -> int:
    try:
        return int(ds.get(keyword, default))
    except (TypeError, ValueError):
        return default


def load_radiographs(
    datasets: Sequence[Dataset], label: str, limits: ReadLimits | None = None
) -> tuple[list[SourceImage], list[str]]:
    """Read every instance of a radiograph series; unreadable ones are skipped with a note.

    Args:
        datasets: the retrieved instances.
        label: the series' display label (``"series #1 CR"``).
        limits: reader limits.

    Returns:
        ``(images, notes)``: the readable images, ordered by Instance Number, and one
        plain-words note per skipped instance.
    """
    images: list[SourceImage] = []
    notes: list[str] = []
    ordered = sorted(datasets, key=lambda ds: _number(ds, "InstanceNumber", 0))
    for index, ds in enumerate(ordered, start=1):
        name = f"{label} image {_number(ds, 'InstanceNumber', index)}"
        try:
            radiograph = read_radiograph(dataset_bytes(ds), limits=limits)
        except InvalidInputError as exc:
            notes.append(f"{name} skipped: {exc}")
            continue
        except Exception as exc:
            notes.append(
                f"{name} skipped: it could not be written back to bytes ({type(exc).__name__})."
            )
            continue
        images.append(SourceImage(dataset=ds, radiograph=radiograph, label=name))
    for note in notes:
        logger.warning("%s", note)
    return images, notes


def _decodes(ds: Dataset, limits: ReadLimits) -> bool:
    """True when the slice's pixels decode to Rows x Columns.

    The compressed frame's declared size is checked first, and the decoded array is not
    cached on the data set (``ds.pixel_array`` would keep every slice's pixels alive).
    """
    try:
        if int(ds.Rows) * int(ds.Columns) > limits.max_pixels:
            return False
        check_encapsulated_frames(ds, limits)
        pixels = pixel_array(ds)
        return bool(pixels.ndim == 2 and pixels.shape == (int(ds.Rows), int(ds.Columns))) and bool(
            np.isfinite(pixels).all()
        )
    except Exception:
        return False


def load_volume(
    datasets: Sequence[Dataset], label: str, limits: ReadLimits | None = None
) -> tuple[SourceVolume | None, list[str]]:
    """Read a CT series as one volume; slices whose pixels do not decode are left out.

    Args:
        datasets: the retrieved slices.
        label: the series' display label (``"series #2 CT"``).
        limits: reader limits.

    Returns:
        ``(volume or None, notes)``: None (with a note saying why) when the remaining
        slices do not make a volume.
    """
    notes: list[str] = []
    kept = []
    for ds in datasets:
        if _decodes(ds, limits or ReadLimits()):
            kept.append(ds)
        else:
            notes.append(
                f"{label}: slice {_number(ds, 'InstanceNumber', 0)} skipped: its pixel data "
                "cannot be decoded."
            )
    volume = None
    if kept:
        try:
            volume = read_volume([dataset_bytes(ds) for ds in kept], limits=limits)
        except InvalidInputError as exc:
            notes.append(f"{label} skipped: {exc}")
    else:
        notes.append(f"{label} skipped: no slice could be decoded.")
    for note in notes:
        logger.warning("%s", note)
    if volume is None:
        return None, notes
    return SourceVolume(datasets=tuple(kept), volume=volume, label=label), notes
