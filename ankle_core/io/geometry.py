"""Slice geometry of DICOM image stacks: sorting, spacing checks and the RAS affine.

DICOM gives each slice an ImagePositionPatient (the centre of its first voxel) and an
ImageOrientationPatient (row and column direction cosines) in LPS millimetres. Slices are
sorted by their position projected on the slice normal (row x column), never by file name
or InstanceNumber, and the slice spacing is the median of the projected differences, never
SliceThickness (overlapping reconstructions have thicker slices than their spacing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from nibabel.orientations import aff2axcodes

from ankle_core.errors import InvalidInputError

__all__ = ["LPS_TO_RAS", "StackGeometry", "orientation_code", "stack_geometry"]

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_ORIENTATION_TOL = 1e-4
_DUPLICATE_TOL_MM = 1e-3
_GAP_FACTOR = 1.5


@dataclass(frozen=True)
class StackGeometry:
    """Where the slices of a stack lie.

    Attributes:
        order: slice indices sorted along the normal (feet to head for axial LPS input).
        affine: 4x4 voxel (x=column, y=row, z=sorted slice) -> patient RAS mm.
        spacing_mm: (z, y, x) spacing in mm; z from the positions.
    """

    order: npt.NDArray[np.intp]
    affine: npt.NDArray[np.float64]
    spacing_mm: tuple[float, float, float]


def stack_geometry(
    positions: Sequence[Sequence[float]],
    orientations: Sequence[Sequence[float]],
    pixel_spacing: tuple[float, float],
) -> StackGeometry:
    """Sort slices and build the voxel -> RAS affine, refusing inconsistent stacks.

    Args:
        positions: (n, 3) ImagePositionPatient per slice, LPS mm.
        orientations: (n, 6) ImageOrientationPatient per slice (row cosines, column cosines).
        pixel_spacing: (row spacing, column spacing) in mm, as in PixelSpacing.

    Returns:
        The sort order, affine (NIfTI index convention, RAS) and spacing.

    Raises:
        InvalidInputError: inconsistent orientation, duplicated positions or a missing slice
            (a gap clearly larger than the median step).

    >>> g = stack_geometry([[0, 0, 4], [0, 0, 0], [0, 0, 2]], [[1, 0, 0, 0, 1, 0]] * 3, (0.5, 0.5))
    >>> g.order.tolist(), g.spacing_mm
    ([1, 2, 0], (2.0, 0.5, 0.5))
    """
    pos = np.asarray(positions, dtype=np.float64)
    iop = np.asarray(orientations, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3 or iop.shape != (len(pos), 6):
        raise InvalidInputError("Slice positions or orientations are missing or malformed.")
    if not (np.isfinite(pos).all() and np.isfinite(iop).all()):
        raise InvalidInputError("Slice positions or orientations are not finite numbers.")
    if np.abs(iop - iop[0]).max() > _ORIENTATION_TOL:
        raise InvalidInputError(
            "The slices do not share one orientation (ImageOrientationPatient differs): "
            "they are not one volume."
        )
    row, col = iop[0, :3], iop[0, 3:]
    normal = np.cross(row, col)
    if np.linalg.norm(normal) < 0.5:
        raise InvalidInputError("ImageOrientationPatient does not describe a valid plane.")
    normal /= np.linalg.norm(normal)
    along = pos @ normal
    order = np.argsort(along, kind="stable")
    sorted_pos = along[order]
    steps = np.diff(sorted_pos)
    if len(pos) < 2:
        raise InvalidInputError("A volume needs at least two slices.")
    if (steps < _DUPLICATE_TOL_MM).any():
        raise InvalidInputError(
            "Two or more slices lie at the same position (duplicated slices, or several "
            "series or time points mixed together)."
        )
    step = float(np.median(steps))
    if (steps > _GAP_FACTOR * step).any():
        raise InvalidInputError(
            "Slices are missing: the gap between some slices is clearly larger than the usual "
            f"{step:.2f} mm spacing. Export the complete series."
        )
    d_row, d_col = float(pixel_spacing[0]), float(pixel_spacing[1])
    first = pos[order[0]]
    slice_vec = (pos[order[-1]] - first) / (len(pos) - 1)
    lps = np.eye(4)
    lps[:3, 0] = row * d_col
    lps[:3, 1] = col * d_row
    lps[:3, 2] = slice_vec
    lps[:3, 3] = first
    return StackGeometry(order=order, affine=LPS_TO_RAS @ lps, spacing_mm=(step, d_row, d_col))


def orientation_code(affine: npt.NDArray[np.float64]) -> str:
    """Axis code of an affine's voxel axes (x, y, z), e.g. ``"RAS"`` or ``"LPS"``.

    >>> orientation_code(np.diag([-1.0, -1.0, 1.0, 1.0]))
    'LPS'
    """
    codes = aff2axcodes(affine)  # type: ignore[no-untyped-call]
    return "".join(str(c) for c in codes)
