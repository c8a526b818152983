"""Projected attenuation of a corticated solid, from its outline's signed distance.

A radiograph sums attenuation along each ray. For a round bone of radius ``R`` with a
cortical shell of thickness ``t``, a ray at depth ``d`` inside the outline crosses a chord of
length ``2 sqrt(d (2R - d))``; the part of it inside the shell is what makes the cortex look
like a bright line along the edge (the ray runs tangentially through it) and the medulla
darker. :func:`shell_projection` applies that cylinder model to any outline, using its SDF's
depth as ``d``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["chord_length", "shell_projection"]

Array = npt.NDArray[np.floating[Any]]


def chord_length(depth: Array, radius: float) -> Array:
    """Length of a cylinder's chord at ``depth`` mm inside its outline.

    Args:
        depth: distance inside the outline in mm (negative or zero outside).
        radius: cylinder radius in mm.

    Returns:
        Chord length in mm, zero outside; ``2 * radius`` at and beyond the axis.

    >>> float(chord_length(np.float32(1.0), 1.0))
    2.0
    """
    d = np.clip(depth, 0.0, radius)
    out: Array = (2.0 * np.sqrt(d * (2.0 * radius - d))).astype(np.float32)
    return out


def shell_projection(
    sdf: Array,
    radius: float,
    cortex_mm: float | Array,
    cortex_density: float | Array,
    core_density: float | Array,
) -> Array:
    """Attenuation of a corticated cylinder seen side-on, per pixel.

    Args:
        sdf: the outline's signed distance in mm (negative inside), any shape.
        radius: the solid's radius in mm (half its width; sets the chord lengths).
        cortex_mm: cortical shell thickness in mm (scalar or per pixel).
        cortex_density: attenuation per mm of the cortex (scalar or per pixel).
        core_density: attenuation per mm of the cancellous core (scalar or per pixel).

    Returns:
        Attenuation (density times path length), same shape as ``sdf``, float32.
    """
    depth = -sdf
    outer = chord_length(depth, radius)
    inner_radius = np.maximum(radius - np.asarray(cortex_mm, dtype=np.float32), 1e-3)
    d = np.clip(depth - cortex_mm, 0.0, inner_radius)
    inner = 2.0 * np.sqrt(d * (2.0 * inner_radius - d))
    out: Array = (cortex_density * (outer - inner) + core_density * inner).astype(np.float32)
    return out
