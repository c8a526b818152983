"""The kept transform between a model's input grid and the original volume.

Preprocessing (reorient to RAS, resample, crop or pad) never loses track of where a voxel
came from: :class:`GridTransform` holds one 4x4 matrix that maps a model-grid index
``(z, y, x, 1)`` to the matching (fractional) index of the original volume, plus the
original affine, so any voxel of the model grid maps back to the original voxel index and
to patient millimetres (RAS). Heat maps computed on the model grid are carried back to the
original grid with it (see :mod:`ankle_core.explain.ct`).

Index conventions: indices are ``(z, y, x)`` like :class:`ankle_core.types.Volume` arrays;
integer indices are voxel centres (a voxel spans ``i - 0.5`` to ``i + 0.5``). Patient
coordinates are RAS millimetres in ``(x, y, z)`` order, as :meth:`Volume.voxel_to_ras`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ankle_core.types import voxel_to_ras

__all__ = ["GridTransform", "signed_permutation"]

F64 = npt.NDArray[np.float64]

#: Swaps (x, y, z) and (z, y, x) in homogeneous 4x4 form (its own inverse).
REVERSE_AXES: F64 = np.array(
    [[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64
)


def signed_permutation(
    linear: npt.ArrayLike, tol: float = 1e-9
) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
    """Decompose a square matrix with one non-zero per row and column.

    Args:
        linear: (n, n) matrix.
        tol: magnitude under which an entry counts as zero.

    Returns:
        ``(columns, values)``: row ``r`` of the matrix holds ``values[r]`` in column
        ``columns[r]``; None when the matrix is not a scaled signed permutation (oblique).

    >>> signed_permutation([[0, 2.0], [-1.0, 0]])
    ((1, 0), (2.0, -1.0))
    """
    mat = np.asarray(linear, dtype=np.float64)
    nonzero = np.abs(mat) > tol
    if not (nonzero.sum(axis=0) == 1).all() or not (nonzero.sum(axis=1) == 1).all():
        return None
    columns = tuple(int(np.flatnonzero(row)[0]) for row in nonzero)
    values = tuple(float(mat[r, c]) for r, c in enumerate(columns))
    return columns, values


def _as_points(zyx: npt.ArrayLike) -> F64:
    pts = np.asarray(zyx, dtype=np.float64)
    if pts.shape[-1:] != (3,):
        raise ValueError(f"Expected (..., 3) indices in (z, y, x) order, got shape {pts.shape}.")
    return pts


def _apply(matrix: F64, pts: F64) -> F64:
    homog = np.concatenate([pts, np.ones((*pts.shape[:-1], 1))], axis=-1)
    out: F64 = (homog @ matrix.T)[..., :3]
    return out


@dataclass(frozen=True)
class GridTransform:
    """Model-grid index <-> original voxel index <-> patient mm.

    Attributes:
        matrix: 4x4 float64; ``matrix @ [z, y, x, 1]`` (model-grid index) gives the
            original volume's ``[z, y, x, 1]`` (fractional index).
        original_affine: 4x4 float64, the original volume's NIfTI-convention affine
            (``(x, y, z, 1)`` index -> RAS mm).
        original_shape: (z, y, x) of the original volume, voxels.
        grid_shape: (z, y, x) of the model grid, voxels.
        grid_spacing_mm: (z, y, x) voxel size of the model grid, mm.

    >>> t = GridTransform(np.diag([2.0, 2, 2, 1]), np.eye(4), (8, 8, 8), (4, 4, 4), (2, 2, 2))
    >>> t.to_original_index([1, 2, 3]).tolist()
    [2.0, 4.0, 6.0]
    >>> t.to_patient_mm([1, 2, 3]).tolist()
    [6.0, 4.0, 2.0]
    """

    matrix: F64
    original_affine: F64
    original_shape: tuple[int, int, int]
    grid_shape: tuple[int, int, int]
    grid_spacing_mm: tuple[float, float, float]

    def __post_init__(self) -> None:
        for name in ("matrix", "original_affine"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            if arr.shape != (4, 4) or not np.isfinite(arr).all():
                raise ValueError(f"{name} must be a finite 4x4 matrix.")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "original_shape", tuple(int(s) for s in self.original_shape))
        object.__setattr__(self, "grid_shape", tuple(int(s) for s in self.grid_shape))
        object.__setattr__(self, "grid_spacing_mm", tuple(float(s) for s in self.grid_spacing_mm))

    def to_original_index(self, zyx: npt.ArrayLike) -> F64:
        """Model-grid index (..., 3) in (z, y, x) -> original (fractional) voxel index."""
        return _apply(self.matrix, _as_points(zyx))

    def from_original_index(self, zyx: npt.ArrayLike) -> F64:
        """Original voxel index (..., 3) in (z, y, x) -> model-grid (fractional) index."""
        inverse = np.asarray(np.linalg.inv(self.matrix), dtype=np.float64)
        return _apply(inverse, _as_points(zyx))

    def to_patient_mm(self, zyx: npt.ArrayLike) -> F64:
        """Model-grid index (..., 3) in (z, y, x) -> patient RAS mm, in (x, y, z) order."""
        return voxel_to_ras(self.grid_affine, _as_points(zyx))

    @property
    def grid_affine(self) -> F64:
        """NIfTI-convention affine of the model grid: ``(x, y, z, 1)`` index -> RAS mm.

        Write the model input as NIfTI with it and it overlays the original scan.
        """
        out: F64 = self.original_affine @ REVERSE_AXES @ self.matrix @ REVERSE_AXES
        return out

    def original_footprint(self, margin: float = 0.0) -> tuple[slice, slice, slice]:
        """Bounding box, in original indices, of the model grid (clipped to the volume).

        Args:
            margin: extra voxels on every side (for interpolation support).

        Returns:
            Three slices (z, y, x); a slice may be empty when the grid misses the volume.
        """
        corners = np.array(
            [
                [z, y, x]
                for z in (-0.5, self.grid_shape[0] - 0.5)
                for y in (-0.5, self.grid_shape[1] - 0.5)
                for x in (-0.5, self.grid_shape[2] - 0.5)
            ]
        )
        orig = self.to_original_index(corners)
        lo = np.floor(orig.min(axis=0) - margin).astype(int)
        hi = np.ceil(orig.max(axis=0) + margin).astype(int) + 1
        out = []
        for axis in range(3):
            n = self.original_shape[axis]
            out.append(slice(int(np.clip(lo[axis], 0, n)), int(np.clip(hi[axis], 0, n))))
        return out[0], out[1], out[2]

    def axis_map(self) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
        """For each original axis, the model-grid axis it follows and the index step.

        Returns:
            ``(grid_axes, steps)`` such that original index ``o[r] = steps[r] *
            m[grid_axes[r]] + offset[r]``; None if the grid is oblique to the volume (never
            the case for grids made by :func:`ankle_core.preprocess.spatial.plan_grid`).
        """
        return signed_permutation(self.matrix[:3, :3])

    def describe(self) -> dict[str, object]:
        """JSON-ready summary (for logs and result metadata)."""
        return {
            "matrix": self.matrix.tolist(),
            "original_affine": self.original_affine.tolist(),
            "original_shape": list(self.original_shape),
            "grid_shape": list(self.grid_shape),
            "grid_spacing_mm": list(self.grid_spacing_mm),
        }


def check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """Validate a (z, y, x) shape of three positive integers."""
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise ValueError(f"A grid shape needs three positive sizes, got {tuple(shape)}.")
    return int(shape[0]), int(shape[1]), int(shape[2])
