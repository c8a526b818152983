"""Typed containers shared across the library.

Each container states its axes and units. Arrays held by the frozen containers are made
read-only, so a cached result cannot be changed by accident by one of its users.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from ankle_core.errors import InvalidInputError

__all__ = ["Box2D", "Box3D", "Radiograph", "Volume", "ras_to_voxel", "voxel_to_ras"]

FloatArray = npt.NDArray[np.float32]


def voxel_to_ras(affine: npt.ArrayLike, zyx: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Map (..., 3) voxel indices in (z, y, x) order to patient RAS mm in (x, y, z) order.

    The one voxel-to-RAS conversion of the library: every volume, model grid and box calls it.

    Args:
        affine: 4x4 NIfTI-convention affine, ``(i_x, i_y, i_z, 1)`` index -> RAS mm.
        zyx: (..., 3) voxel indices (fractional allowed), array axis order.

    Returns:
        (..., 3) float64 RAS mm, (x, y, z).

    >>> voxel_to_ras(np.diag([1.0, 1, 2, 1]), [1, 0, 0]).tolist()
    [0.0, 0.0, 2.0]
    """
    idx = np.asarray(zyx, dtype=np.float64)[..., ::-1]
    homog = np.concatenate([idx, np.ones((*idx.shape[:-1], 1))], axis=-1)
    out: npt.NDArray[np.float64] = (homog @ np.asarray(affine, dtype=np.float64).T)[..., :3]
    return out


def ras_to_voxel(affine: npt.ArrayLike, ras: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Inverse of :func:`voxel_to_ras`: RAS mm (..., 3) (x, y, z) -> fractional (z, y, x)."""
    pts = np.asarray(ras, dtype=np.float64)
    homog = np.concatenate([pts, np.ones((*pts.shape[:-1], 1))], axis=-1)
    inverse = np.linalg.inv(np.asarray(affine, dtype=np.float64))
    out: npt.NDArray[np.float64] = (homog @ inverse.T)[..., :3][..., ::-1]
    return out


def _freeze_array(array: np.ndarray, name: str, ndim: int) -> FloatArray:
    arr = np.asarray(array)
    if arr.ndim != ndim:
        raise InvalidInputError(f"{name} must have {ndim} dimensions, got shape {arr.shape}.")
    # checked a slab at a time: no boolean copy of a large volume
    step = max(1, (1 << 22) // max(1, arr[:1].size)) if arr.ndim else 1
    finite = (
        np.isfinite(arr).all()
        if arr.ndim < 2
        else all(np.isfinite(arr[i : i + step]).all() for i in range(0, arr.shape[0], step))
    )
    if not finite:
        raise InvalidInputError(f"{name} contains NaN or infinite values.")
    if arr is array and arr.flags.writeable:
        # Never freeze the caller's own buffer: keep a private, read-only copy.
        arr = arr.astype(np.float32, copy=True)
    elif arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    arr.setflags(write=False)
    return arr


def _freeze_mapping(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(metadata))


@dataclass(frozen=True)
class Radiograph:
    """One projection radiograph, ready for the models.

    Attributes:
        pixels: (H, W) float32 in [0, 1], bone bright (MONOCHROME1 already inverted,
            rescale and VOI LUT or window already applied).
        pixel_spacing_mm: (row, col) spacing in mm, or None when unknown.
        metadata: de-identified header facts and what the reader applied (e.g.
            ``{"modality": "CR", "inverted": True, "window": "VOI LUT"}``).
        source_format: ``"dicom"``, ``"png"``, ``"jpeg"`` or ``"array"``.
    """

    pixels: FloatArray
    pixel_spacing_mm: tuple[float, float] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source_format: str = "array"

    def __post_init__(self) -> None:
        pixels = _freeze_array(self.pixels, "The radiograph", 2)
        if pixels.size and (float(pixels.min()) < 0.0 or float(pixels.max()) > 1.0):
            raise InvalidInputError("Radiograph pixels must lie in [0, 1].")
        object.__setattr__(self, "pixels", pixels)
        spacing = self.pixel_spacing_mm
        if spacing is not None:
            spacing = (float(spacing[0]), float(spacing[1]))
            if not all(np.isfinite(s) and s > 0 for s in spacing):
                spacing = None
        object.__setattr__(self, "pixel_spacing_mm", spacing)
        object.__setattr__(self, "metadata", _freeze_mapping(self.metadata))

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        h, w = self.pixels.shape
        return int(h), int(w)


@dataclass(frozen=True)
class Volume:
    """A CT (or other 3D) volume.

    Attributes:
        array: (z, y, x) float32, Hounsfield units where the modality has them.
        spacing_mm: (z, y, x) voxel spacing in mm.
        affine: 4x4 float64, voxel index (x, y, z, 1) -> patient RAS mm, in the
            NIfTI convention: ``affine @ [i_x, i_y, i_z, 1]`` with the index order reversed
            with respect to ``array``'s axes. Use :meth:`voxel_to_ras` to avoid mistakes.
        metadata: de-identified header facts.
    """

    array: FloatArray
    spacing_mm: tuple[float, float, float]
    affine: npt.NDArray[np.float64]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "array", _freeze_array(self.array, "The volume", 3))
        spacing = tuple(float(s) for s in self.spacing_mm)
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise InvalidInputError(f"Voxel spacing must be three positive numbers, got {spacing}.")
        object.__setattr__(self, "spacing_mm", spacing)
        affine = np.array(self.affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.isfinite(affine).all():
            raise InvalidInputError("The volume's affine must be a finite 4x4 matrix.")
        affine.setflags(write=False)
        object.__setattr__(self, "affine", affine)
        object.__setattr__(self, "metadata", _freeze_mapping(self.metadata))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(z, y, x) in voxels."""
        z, y, x = self.array.shape
        return int(z), int(y), int(x)

    def voxel_to_ras(self, zyx: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map (..., 3) voxel indices in (z, y, x) order to patient RAS mm (x, y, z order).

        >>> v = Volume(np.zeros((2, 2, 2), np.float32), (2.0, 1.0, 1.0), np.diag([1.0, 1, 2, 1]))
        >>> v.voxel_to_ras([1, 0, 0]).tolist()
        [0.0, 0.0, 2.0]
        """
        return voxel_to_ras(self.affine, zyx)

    def ras_to_voxel(self, ras: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Inverse of :meth:`voxel_to_ras`: RAS mm (x, y, z) -> fractional (z, y, x) index."""
        return ras_to_voxel(self.affine, ras)


@dataclass(frozen=True)
class Box2D:
    """An axis-aligned box on a radiograph, in pixels: x is the column, y the row.

    ``x0, y0`` is the top-left corner and ``x1, y1`` the bottom-right (exclusive), as in
    torchvision's ``xyxy`` convention.
    """

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (self.x1 > self.x0 and self.y1 > self.y0):
            raise InvalidInputError(f"A box needs x1 > x0 and y1 > y0, got {self}.")

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        """(x, y) centre in pixels."""
        return (self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0

    def as_xyxy(self) -> tuple[float, float, float, float]:
        return self.x0, self.y0, self.x1, self.y1

    def iou(self, other: Box2D) -> float:
        """Intersection over union with ``other``.

        >>> Box2D(0, 0, 2, 2).iou(Box2D(1, 0, 3, 2))
        0.3333333333333333
        """
        ix = max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0))
        iy = max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Box3D:
    """An axis-aligned box in a volume, in voxel indices (z, y, x), upper bounds exclusive."""

    z0: int
    y0: int
    x0: int
    z1: int
    y1: int
    x1: int

    def __post_init__(self) -> None:
        if not (self.z1 > self.z0 and self.y1 > self.y0 and self.x1 > self.x0):
            raise InvalidInputError(f"A 3D box needs each upper bound above its lower, got {self}.")

    @property
    def center(self) -> tuple[float, float, float]:
        """(z, y, x) centre in voxel-index coordinates (continuous)."""
        return (
            (self.z0 + self.z1 - 1) / 2.0,
            (self.y0 + self.y1 - 1) / 2.0,
            (self.x0 + self.x1 - 1) / 2.0,
        )

    @property
    def volume_voxels(self) -> int:
        return (self.z1 - self.z0) * (self.y1 - self.y0) * (self.x1 - self.x0)

    def contains(self, zyx: tuple[float, float, float]) -> bool:
        """True when the (continuous) voxel position lies inside the box."""
        z, y, x = zyx
        return (
            self.z0 - 0.5 <= z < self.z1 - 0.5
            and self.y0 - 0.5 <= y < self.y1 - 0.5
            and self.x0 - 0.5 <= x < self.x1 - 0.5
        )

    def iou(self, other: Box3D) -> float:
        """Intersection over union, in voxels."""
        dz = max(0, min(self.z1, other.z1) - max(self.z0, other.z0))
        dy = max(0, min(self.y1, other.y1) - max(self.y0, other.y0))
        dx = max(0, min(self.x1, other.x1) - max(self.x0, other.x0))
        inter = dz * dy * dx
        union = self.volume_voxels + other.volume_voxels - inter
        return inter / union if union > 0 else 0.0

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return self.z0, self.y0, self.x0, self.z1, self.y1, self.x1
