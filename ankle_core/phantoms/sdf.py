"""Signed-distance primitives used to draw the phantoms.

Every shape is an approximate signed distance field (SDF) in millimetres: negative inside,
positive outside, about ``-depth`` at ``depth`` mm inside the outline. Shapes combine with
:func:`smooth_max` (intersection, or cutting one shape out of another with ``-sdf``) and
:func:`smooth_min` (union). Drawing from distances keeps everything vectorised and lets the
cortex be a band ``-t < sdf < 0``, which is what makes cortical bone brighter than cancellous
bone in the images.

All functions take numpy arrays of any (matching or broadcastable) shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "capsule",
    "capsule3d",
    "convex_polygon",
    "ellipse",
    "ellipsoid",
    "rounded_box",
    "smooth_max",
    "smooth_min",
    "soft_inside",
]

Array = npt.NDArray[np.floating[Any]]


def smooth_max(a: Array, b: Array, k: float) -> Array:
    """Smooth maximum (intersection of two SDFs), rounding the crease over about ``k`` mm.

    >>> float(smooth_max(np.float32(1.0), np.float32(-1.0), 0.0))
    1.0
    """
    out: Array = 0.5 * (a + b + np.sqrt((a - b) ** 2 + k * k))
    return out


def smooth_min(a: Array, b: Array, k: float) -> Array:
    """Smooth minimum (union of two SDFs), blending over about ``k`` mm."""
    out: Array = 0.5 * (a + b - np.sqrt((a - b) ** 2 + k * k))
    return out


def soft_inside(sdf: Array, width: float) -> Array:
    """Anti-aliased inside indicator: 1 deep inside, 0 outside, a ramp of ``width`` mm.

    Args:
        sdf: signed distances in mm.
        width: ramp width in mm (about one pixel).

    Returns:
        Array of the same shape, float32 in [0, 1].
    """
    out: Array = np.clip(0.5 - sdf / max(width, 1e-6), 0.0, 1.0).astype(np.float32)
    return out


def ellipse(x: Array, y: Array, a: float | Array, b: float | Array) -> Array:
    """Approximate SDF of an axis-aligned ellipse with semi-axes ``a`` (x) and ``b`` (y).

    The semi-axes may be arrays (a cross-section that changes along a third axis).

    Uses the first-order approximation ``k0 (k0 - 1) / k1`` (exact on the outline).

    >>> round(float(ellipse(np.float32(3.0), np.float32(0.0), 2.0, 1.0)), 3)
    1.0
    """
    k0 = np.sqrt((x / a) ** 2 + (y / b) ** 2)
    k1 = np.sqrt((x / (a * a)) ** 2 + (y / (b * b)) ** 2)
    out: Array = (k0 * (k0 - 1.0) / np.maximum(k1, 1e-6)).astype(np.float32)
    return out


def ellipsoid(x: Array, y: Array, z: Array, a: float, b: float, c: float) -> Array:
    """Approximate SDF of an axis-aligned ellipsoid with semi-axes ``a, b, c`` (x, y, z)."""
    k0 = np.sqrt((x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2)
    k1 = np.sqrt((x / (a * a)) ** 2 + (y / (b * b)) ** 2 + (z / (c * c)) ** 2)
    out: Array = (k0 * (k0 - 1.0) / np.maximum(k1, 1e-6)).astype(np.float32)
    return out


def rounded_box(x: Array, y: Array, half_w: float, half_h: float, radius: float) -> Array:
    """Exact SDF of an axis-aligned box centred on the origin, corners rounded by ``radius``.

    >>> float(rounded_box(np.float32(3.0), np.float32(0.0), 2.0, 1.0, 0.5))
    1.0
    """
    qx = np.abs(x) - (half_w - radius)
    qy = np.abs(y) - (half_h - radius)
    outside = np.sqrt(np.maximum(qx, 0.0) ** 2 + np.maximum(qy, 0.0) ** 2)
    out: Array = (outside + np.minimum(np.maximum(qx, qy), 0.0) - radius).astype(np.float32)
    return out


def capsule(
    x: Array,
    y: Array,
    p0: tuple[float, float],
    p1: tuple[float, float],
    r0: float,
    r1: float,
) -> Array:
    """SDF of a tapered capsule: the segment ``p0``–``p1`` swept by a radius ``r0``→``r1``.

    Args:
        x, y: point coordinates in mm.
        p0, p1: segment ends (x, y) in mm.
        r0, r1: radius at ``p0`` and ``p1`` in mm (linearly interpolated).

    Returns:
        Signed distance in mm (exact for ``r0 == r1``, close otherwise).
    """
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    length2 = dx * dx + dy * dy
    px, py = x - p0[0], y - p0[1]
    h = np.clip((px * dx + py * dy) / length2, 0.0, 1.0)
    dist = np.sqrt((px - h * dx) ** 2 + (py - h * dy) ** 2)
    out: Array = (dist - (r0 + (r1 - r0) * h)).astype(np.float32)
    return out


def capsule3d(
    x: Array,
    y: Array,
    z: Array,
    p0: tuple[float, float, float],
    p1: tuple[float, float, float],
    r0: float,
    r1: float,
) -> Array:
    """SDF of a tapered 3D capsule: segment ``p0``–``p1`` (x, y, z mm), radius ``r0``→``r1``."""
    # Plain floats keep float32 inputs in float32 (NumPy scalars would promote them).
    dx, dy, dz = (float(b - a) for a, b in zip(p0, p1, strict=True))
    length2 = dx * dx + dy * dy + dz * dz
    px, py, pz = x - p0[0], y - p0[1], z - p0[2]
    h = np.clip((px * dx + py * dy + pz * dz) / length2, 0.0, 1.0)
    dist = np.sqrt((px - h * dx) ** 2 + (py - h * dy) ** 2 + (pz - h * dz) ** 2)
    out: Array = (dist - (r0 + (r1 - r0) * h)).astype(np.float32)
    return out


def convex_polygon(x: Array, y: Array, vertices: npt.NDArray[np.float64]) -> Array:
    """SDF of a convex polygon (exact inside and along edges, sharp corners kept).

    Args:
        x, y: point coordinates in mm.
        vertices: (k, 2) vertices (x, y) in mm, in counter-clockwise or clockwise order.

    Returns:
        The largest signed distance to the edge lines, in mm.
    """
    v = np.asarray(vertices, dtype=np.float64)
    centroid = v.mean(axis=0)
    out = np.full(np.broadcast(x, y).shape, -np.inf, dtype=np.float32)
    for i in range(len(v)):
        a, b = v[i], v[(i + 1) % len(v)]
        ex, ey = b - a
        nx, ny = ey, -ex
        norm = np.hypot(nx, ny)
        nx, ny = nx / norm, ny / norm
        if (centroid[0] - a[0]) * nx + (centroid[1] - a[1]) * ny > 0:
            nx, ny = -nx, -ny
        d = (x - a[0]) * nx + (y - a[1]) * ny
        out = np.maximum(out, d.astype(np.float32))
    return out
