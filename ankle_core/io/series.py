"""DICOM image stacks -> :class:`~ankle_core.types.Volume`: classic series and multi-frame.

A classic series (one slice per file) is checked before any pixel is decoded: one
SeriesInstanceUID, one orientation, equal slice sizes, no duplicated position, no missing
slice, and a voxel count within the limits. Non-image files (DICOMDIR, reports, text) are
skipped. A multi-frame object (enhanced CT/MR) takes its geometry from the per-frame and
shared functional groups, and falls back to the top-level attributes and
SpacingBetweenSlices, saying so in the metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import pixel_array

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io._guard import check_decoded_bytes, check_voxel_count
from ankle_core.io.codestream import check_encapsulated_frames
from ankle_core.io.dicom import release_pixels
from ankle_core.io.dicom_header import (
    BURNED_IN_YES,
    clean_header,
    has_pixels,
    header_facts,
    n_frames,
    parse_dicom,
    pixel_spacing,
    text,
)
from ankle_core.io.geometry import LPS_TO_RAS, orientation_code, stack_geometry
from ankle_core.io.sources import Member, sniff
from ankle_core.types import Volume

__all__ = ["read_dicom_stack"]


def read_dicom_stack(members: list[Member], limits: ReadLimits) -> Volume:
    """Read DICOM files that together make one volume.

    The list is emptied as it is read, so that each file's bytes are freed once parsed;
    each slice's compressed pixel data is freed once that slice is decoded. Before any
    decode, every compressed frame's declared size is checked and the memory the whole read
    needs (raw pixel data still held + the float32 volume + one slice's working copies) is
    refused above ``limits.max_decoded_bytes``.

    Args:
        members: the files (from a folder, list or zip); non-DICOM files are skipped.
        limits: reader limits.

    Returns:
        The volume: array (z, y, x) float32, rescaled (HU for CT); spacing (z, y, x) mm;
        affine voxel -> RAS mm.

    Raises:
        InvalidInputError: no image slice, a single 2D image, or an inconsistent series.
    """
    slices: list[Dataset] = []
    skipped = 0
    members.reverse()
    while members:
        member = members.pop()
        if sniff(member.data[:1024]) != "dicom":
            skipped += 1
            continue
        ds = parse_dicom(member.data, limits)
        if not has_pixels(ds):
            skipped += 1
            continue
        slices.append(ds)
        del member
    if not slices:
        raise InvalidInputError("No readable DICOM image slice was found in what was given.")
    if len(slices) == 1:
        if n_frames(slices[0]) > 1:
            return _read_multiframe(slices[0], limits, skipped)
        raise InvalidInputError(
            "Only one 2D image was found: a volume needs a series of slices (a folder or .zip) "
            "or a multi-frame file. Open a single image as a radiograph."
        )
    if any(n_frames(ds) > 1 for ds in slices):
        raise InvalidInputError("The files mix multi-frame objects with single slices.")
    return _read_series(slices, limits, skipped)


def _read_series(slices: list[Dataset], limits: ReadLimits, skipped: int) -> Volume:
    series = {text(ds.get("SeriesInstanceUID")) for ds in slices}
    if len(series) > 1:
        raise InvalidInputError(
            f"The files belong to {len(series)} different series (SeriesInstanceUID differs). "
            "Give one series at a time."
        )
    sizes = {(int(ds.Rows), int(ds.Columns)) for ds in slices}
    if len(sizes) > 1:
        raise InvalidInputError("The slices do not all have the same number of rows and columns.")
    rows, cols = sizes.pop()
    check_voxel_count((len(slices), rows, cols), limits)
    raw = sum(_pixel_bytes(ds) for ds in slices)
    check_decoded_bytes(raw + _volume_peak_bytes(len(slices), rows, cols), limits, "volume")
    for ds in slices:
        check_encapsulated_frames(ds, limits)
    try:
        positions = [[float(v) for v in ds.ImagePositionPatient] for ds in slices]
        orientations = [[float(v) for v in ds.ImageOrientationPatient] for ds in slices]
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            "Some slices lack their position or orientation (ImagePositionPatient, "
            "ImageOrientationPatient), so the volume cannot be assembled."
        ) from exc
    spacing, _, problems = pixel_spacing(slices[0])
    if spacing is None:
        raise InvalidInputError("The series has no valid PixelSpacing: voxel size unknown.")
    geometry = stack_geometry(positions, orientations, spacing)
    ordered = [slices[i] for i in geometry.order]
    rescaled = False
    array = np.empty((len(ordered), rows, cols), dtype=np.float32)
    for k, ds in enumerate(ordered):
        stored = np.asarray(pixel_array(ds))  # not pydicom's cached ds.pixel_array
        release_pixels(ds)
        if stored.shape != (rows, cols):
            raise InvalidInputError("A slice decodes to an unexpected size.")
        rescaled = _modality_into(array[k], stored, ds) or rescaled
        del stored
    clean = clean_header(ordered[0], limits)
    meta = _volume_meta(clean, len(ordered), rescaled, geometry.affine)
    meta["spacing_source"] = "ImagePositionPatient"
    meta["slice_thickness_mm"] = _float_or_none(clean.get("SliceThickness"))
    meta["skipped_files"] = skipped
    meta["problems"] = problems + _burned_in(slices)
    if BURNED_IN_YES in meta["problems"]:
        meta["burned_in_annotation"] = "YES"
    return Volume(
        array=array, spacing_mm=geometry.spacing_mm, affine=geometry.affine, metadata=meta
    )


def _read_multiframe(ds: Dataset, limits: ReadLimits, skipped: int) -> Volume:
    frames, rows, cols = n_frames(ds), int(ds.Rows), int(ds.Columns)
    check_voxel_count((frames, rows, cols), limits)
    check_decoded_bytes(_pixel_bytes(ds) + _volume_peak_bytes(frames, rows, cols), limits, "volume")
    check_encapsulated_frames(ds, limits)
    shared = _first_item(ds.get("SharedFunctionalGroupsSequence"))
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    groups = [_first_item([item]) for item in per_frame] if len(per_frame) == frames else []

    def find(item: Dataset | None, seq: str, keyword: str) -> Any:
        inner = _first_item(item.get(seq)) if item is not None else None
        return inner.get(keyword) if inner is not None else None

    positions = [find(g, "PlanePositionSequence", "ImagePositionPatient") for g in groups]
    orients = [
        find(g, "PlaneOrientationSequence", "ImageOrientationPatient")
        or find(shared, "PlaneOrientationSequence", "ImageOrientationPatient")
        for g in groups
    ]
    spacing_raw = find(shared, "PixelMeasuresSequence", "PixelSpacing") or (
        find(groups[0], "PixelMeasuresSequence", "PixelSpacing") if groups else None
    )
    spacing_ds = Dataset()
    if spacing_raw is not None:
        spacing_ds.PixelSpacing = spacing_raw
    elif "PixelSpacing" in ds:
        spacing_ds.PixelSpacing = ds.PixelSpacing
    spacing, _, problems = pixel_spacing(spacing_ds)
    # Geometry first, so that each frame is decoded straight into its sorted place: no
    # whole stored array, and no re-ordered copy of the float32 volume.
    has_geometry = bool(groups) and all(p is not None for p in positions) and all(orients)
    destination = list(range(frames))
    if has_geometry and spacing is not None:
        geometry = stack_geometry(
            [[float(v) for v in p] for p in positions],
            [[float(v) for v in o] for o in orients],
            spacing,
        )
        for place, k in enumerate(geometry.order):
            destination[int(k)] = place
        affine, spacing_zyx, source = geometry.affine, geometry.spacing_mm, "ImagePositionPatient"
    else:
        affine, spacing_zyx, source = _fallback_affine(ds, spacing, problems)
    values = np.empty((frames, rows, cols), dtype=np.float32)
    rescaled = False
    for k, stored in enumerate(_frames(ds, frames)):
        if stored.shape != (rows, cols):
            raise InvalidInputError("The multi-frame object is not a grey stack of frames.")
        frame_group = groups[k] if groups else None
        transform = _first_item(
            frame_group.get("PixelValueTransformationSequence") if frame_group else None
        ) or _first_item(shared.get("PixelValueTransformationSequence") if shared else None)
        rescaled = _modality_into(values[destination[k]], stored, transform or ds) or rescaled
    release_pixels(ds)
    clean = clean_header(ds, limits)
    meta = _volume_meta(clean, frames, rescaled, affine)
    meta["spacing_source"] = source
    meta["skipped_files"] = skipped
    meta["problems"] = problems + _burned_in([ds])
    return Volume(array=values, spacing_mm=spacing_zyx, affine=affine, metadata=meta)


def _fallback_affine(
    ds: Dataset, spacing: tuple[float, float] | None, problems: list[str]
) -> tuple[npt.NDArray[np.float64], tuple[float, float, float], str]:
    d_row, d_col = spacing if spacing is not None else (1.0, 1.0)
    if spacing is None:
        problems.append("no pixel spacing: 1 mm assumed in-plane")
    step, source = None, "unknown"
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = _float_or_none(ds.get(keyword))
        if value is not None and value > 0:
            step, source = value, keyword
            break
    if step is None:
        step = 1.0
        problems.append("no slice spacing: 1 mm assumed")
    problems.append(f"no per-frame positions: frames taken in file order, spacing from {source}")
    try:
        iop = [float(v) for v in ds.ImageOrientationPatient]
        origin = [float(v) for v in ds.ImagePositionPatient]
        row, col = np.array(iop[:3]), np.array(iop[3:])
    except (AttributeError, TypeError, ValueError):
        row, col, origin = np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), [0.0, 0.0, 0.0]
        problems.append("no patient orientation: LPS axes assumed")
    lps = np.eye(4)
    lps[:3, 0] = row * d_col
    lps[:3, 1] = col * d_row
    lps[:3, 2] = np.cross(row, col) * step
    lps[:3, 3] = origin
    return LPS_TO_RAS @ lps, (step, d_row, d_col), source


def _burned_in(slices: list[Dataset]) -> list[str]:
    """The radiographs' Burned In Annotation warning when any slice says YES.

    A CT slice rarely carries the attribute (it is optional in the General Image module),
    so its absence is not flagged for volumes; a YES on any one slice is.
    """
    said = {(text(ds.get("BurnedInAnnotation")) or "").upper() for ds in slices}
    return [BURNED_IN_YES] if "YES" in said else []


def _first_item(seq: Any) -> Dataset | None:
    if not seq:
        return None
    item = seq[0]
    return item if isinstance(item, Dataset) else None


def _frames(ds: Dataset, frames: int) -> Any:
    """Decode a multi-frame object one frame at a time (never the whole stored array)."""
    meta = getattr(ds, "file_meta", None)
    tsyntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    seen = 0
    for arr, _ in get_decoder(tsyntax).iter_array(ds, as_rgb=True):
        seen += 1
        if seen > frames:
            break
        yield np.asarray(arr)
    if seen < frames:
        raise InvalidInputError("The multi-frame object holds fewer frames than it announces.")


def _pixel_bytes(ds: Dataset) -> int:
    """Bytes of (possibly compressed) pixel data a parsed data set holds."""
    value = ds.get("PixelData")
    return len(value) if isinstance(value, bytes | bytearray) else 0


def _volume_peak_bytes(n_slices: int, rows: int, cols: int) -> int:
    """The float32 volume plus one slice's stored (<= 8 bytes) and float64 working copies."""
    return n_slices * rows * cols * 4 + rows * cols * (8 + 8 + 8)


def _modality_into(out: npt.NDArray[np.float32], plane: npt.NDArray[Any], ds: Dataset) -> bool:
    """Write stored values -> modality values (HU for CT) into ``out``; True if rescaled."""
    if plane.ndim != 2:
        raise InvalidInputError("Colour images cannot be read as a CT/MR volume.")
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    if not (np.isfinite(slope) and np.isfinite(intercept)) or slope == 0:
        raise InvalidInputError("The DICOM Rescale Slope/Intercept are not valid numbers.")
    out[...] = plane.astype(np.float64) * slope + intercept
    return slope != 1.0 or intercept != 0.0


def _float_or_none(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _volume_meta(
    clean: Dataset, n_slices: int, rescaled: bool, affine: npt.NDArray[np.float64]
) -> dict[str, Any]:
    facts = header_facts(clean)
    return {
        "modality": facts["modality"],
        "manufacturer": facts["manufacturer"],
        "body_part": facts["body_part"],
        "sop_class": facts["sop_class"],
        "transfer_syntax": facts["transfer_syntax"],
        "photometric_interpretation": facts["photometric_interpretation"],
        "bits_stored": facts["bits_stored"],
        "burned_in_annotation": facts["burned_in_annotation"],
        "n_slices": n_slices,
        "orientation": orientation_code(affine),
        "rescale_applied": rescaled,
        "source_format": "dicom",
    }
