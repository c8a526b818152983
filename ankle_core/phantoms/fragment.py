"""The bone fragment below the fibular tip: an ossicle (SFO) or an avulsed piece (LMAF).

Radiological signs drawn here (see ``docs/phantoms.md``):

- **SFO** (subfibular ossicle): round or oval, smooth outline, a continuous cortical rim
  (a bright ring, a darker cancellous centre), separated from an intact, rounded fibular tip
  by a clear gap.
- **LMAF** (lateral malleolar avulsion fracture): irregular, angular, not corticated
  (uniform, flake-like or ragged density, no ring), close to the tip, with a donor defect
  in the tip whose outline is the fragment's own shape before it moved.

A *blended* fragment borrows the other class's signs (see
:class:`ankle_core.phantoms.knobs.PhantomKnobs`): an SFO with a broken rim and some
angularity, or a small roundish LMAF with a faint rim and a shallow donor defect.

Coordinates are the radiograph phantom's canonical anatomy frame, in mm: x towards medial,
y distal (down the image), origin at the middle of the tibial plafond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ankle_core.phantoms.knobs import PhantomKnobs
from ankle_core.phantoms.projection import shell_projection
from ankle_core.phantoms.sdf import convex_polygon, ellipse, soft_inside

__all__ = ["FragmentParams", "fragment_attenuation", "fragment_sdf", "sample_fragment"]

Array = npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class FragmentParams:
    """One fragment's sampled parameters (mm, degrees, attenuation per mm).

    Attributes:
        kind: ``"lmaf"`` or ``"sfo"``.
        blended: True when the fragment borrows the other class's signs.
        center: (x, y) of the fragment in the canonical frame, mm.
        radius_mm: mean radius.
        aspect: ellipse aspect ratio (long over short axis, >= 1).
        vertices: (k, 2) polygon vertices around the origin, mm, as nested tuples.
        angularity: 0 = smooth ellipse, 1 = the angular polygon (SDFs blended linearly).
        rotation_deg: rotation of the shape at ``center``.
        rim_mm: cortical rim thickness.
        rim_ratio: rim density over core density (1 = no rim).
        rim_gap_deg: arc of rim missing (0 = continuous), starting at ``rim_gap_start_deg``.
        rim_gap_start_deg: where the missing arc starts, degrees.
        flatness: 0 = a round solid (centre densest), 1 = a flat flake (uniform density).
        raggedness: how much a trabecular-like texture modulates the density.
        density: core attenuation per mm.
        donor_center: (x, y) of the donor defect in the fibular tip, or None (no defect).
        donor_rotation_deg: rotation of the shape at the donor site.
        defect_fraction: how deep the defect bites, as a fraction of the fragment's size.
    """

    kind: str
    blended: bool
    center: tuple[float, float]
    radius_mm: float
    aspect: float
    vertices: tuple[tuple[float, float], ...]
    angularity: float
    rotation_deg: float
    rim_mm: float
    rim_ratio: float
    rim_gap_deg: float
    rim_gap_start_deg: float
    flatness: float
    raggedness: float
    density: float
    donor_center: tuple[float, float] | None
    donor_rotation_deg: float
    defect_fraction: float


def _u(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def _polygon(
    rng: np.random.Generator, radius: float, aspect: float
) -> tuple[tuple[float, float], ...]:
    k = int(rng.integers(4, 7))
    base = np.sort(rng.uniform(0, 2 * np.pi, size=k))
    # Spread the angles so the polygon is convex and not degenerate.
    angles = (np.arange(k) * 2 * np.pi / k + 0.5 * (base - base.mean()) / k) % (2 * np.pi)
    angles.sort()
    radii = radius * rng.uniform(0.85, 1.3, size=k)
    sx, sy = math.sqrt(aspect), 1.0 / math.sqrt(aspect)
    return tuple(
        (float(r * sx * math.cos(a)), float(r * sy * math.sin(a)))
        for r, a in zip(radii, angles, strict=True)
    )


def sample_fragment(
    rng: np.random.Generator,
    kind: str,
    difficulty: float,
    tip: tuple[float, float],
    tip_axes: tuple[float, float],
    knobs: PhantomKnobs,
) -> FragmentParams:
    """Sample a fragment near the fibular tip.

    Args:
        rng: the case's generator.
        kind: ``"lmaf"`` or ``"sfo"``.
        difficulty: 0 (textbook signs) to 1 (signs often blended).
        tip: centre (x, y) of the ellipse that rounds the fibular tip, mm.
        tip_axes: its semi-axes (a, b), mm.
        knobs: the generator's knobs.

    Returns:
        The sampled :class:`FragmentParams`.
    """
    lo, hi = knobs.blend_probability
    blended = bool(rng.random() < lo + (hi - lo) * float(np.clip(difficulty, 0.0, 1.0)))
    # A point on the lower, lateral part of the tip's outline and its outward normal.
    t = math.radians(float(rng.uniform(80.0, 125.0)))
    a, b = tip_axes
    px, py = tip[0] + a * math.cos(t), tip[1] + b * math.sin(t)
    nx, ny = math.cos(t) / a, math.sin(t) / b
    norm = math.hypot(nx, ny)
    nx, ny = nx / norm, ny / norm
    aspect = float(rng.uniform(1.0, 1.6))
    rotation = float(rng.uniform(0.0, 180.0))
    density = _u(rng, knobs.fragment_contrast)
    if kind == "sfo":
        radius = _u(rng, knobs.sfo_radius_mm)
        vertices = _polygon(rng, radius, aspect)
        gap = _u(rng, knobs.sfo_gap_mm)
        dist = gap + radius / math.sqrt(aspect) * 1.05
        center = (px + nx * dist, py + ny * dist)
        return FragmentParams(
            kind="sfo",
            blended=blended,
            center=center,
            radius_mm=radius,
            aspect=aspect,
            vertices=vertices,
            angularity=_u(rng, knobs.sfo_angularity) if blended else _u(rng, (0.0, 0.1)),
            rotation_deg=rotation,
            rim_mm=_u(rng, knobs.sfo_rim_mm),
            rim_ratio=_u(rng, knobs.sfo_rim_ratio)
            if not blended
            else _u(rng, knobs.sfo_blend_rim_ratio),
            rim_gap_deg=_u(rng, knobs.sfo_broken_rim_deg) if blended else 0.0,
            rim_gap_start_deg=float(rng.uniform(0.0, 360.0)),
            flatness=_u(rng, (0.0, 0.1)),
            raggedness=_u(rng, (0.0, 0.15)),
            density=0.25 * density,
            donor_center=None,
            donor_rotation_deg=0.0,
            defect_fraction=0.0,
        )
    if kind != "lmaf":
        raise ValueError(f"Unknown fragment kind {kind!r}.")
    if blended:
        radius = _u(rng, (knobs.lmaf_radius_mm[0], 0.5 * sum(knobs.lmaf_radius_mm)))
        aspect = float(rng.uniform(1.0, 1.3))
        angularity = _u(rng, knobs.lmaf_blend_angularity)
        fraction = _u(rng, knobs.lmaf_subtle_defect_fraction)
        rim_ratio = _u(rng, knobs.lmaf_faint_rim_ratio)
        flatness = _u(rng, (0.0, 0.15))
        density *= 0.7  # a faintly rimmed shell rather than a dense flake
    else:
        radius = _u(rng, knobs.lmaf_radius_mm)
        angularity = _u(rng, knobs.lmaf_angularity)
        fraction = _u(rng, knobs.lmaf_defect_fraction)
        rim_ratio = 1.0
        flatness = _u(rng, (0.5, 0.9))
    vertices = _polygon(rng, radius, aspect)
    half = radius / math.sqrt(aspect)
    # Donor site: the shape sits across the tip's outline, `fraction` of it inside the bone.
    donor = (px - nx * (2.0 * fraction - 1.0) * half, py - ny * (2.0 * fraction - 1.0) * half)
    move = 2.0 * fraction * half + _u(rng, knobs.lmaf_gap_mm)
    slide = float(rng.uniform(-0.3, 0.3)) * half
    center = (donor[0] + nx * move - ny * slide, donor[1] + ny * move + nx * slide)
    return FragmentParams(
        kind="lmaf",
        blended=blended,
        center=center,
        radius_mm=radius,
        aspect=aspect,
        vertices=vertices,
        angularity=angularity,
        rotation_deg=rotation + float(rng.uniform(-20.0, 20.0)),
        rim_mm=_u(rng, (0.5, 0.9)) if blended else _u(rng, (0.4, 0.7)),
        rim_ratio=rim_ratio,
        rim_gap_deg=_u(rng, (0.0, 120.0)) if blended else 0.0,
        rim_gap_start_deg=float(rng.uniform(0.0, 360.0)),
        flatness=flatness,
        raggedness=_u(rng, (0.1, 0.4)) if not blended else _u(rng, (0.0, 0.2)),
        density=density,
        donor_center=donor,
        donor_rotation_deg=rotation,
        defect_fraction=fraction,
    )


def fragment_sdf(
    frag: FragmentParams,
    x: Array,
    y: Array,
    *,
    at_donor: bool = False,
) -> Array:
    """Signed distance (mm) to the fragment's outline, at its place or at the donor site.

    Args:
        frag: the fragment.
        x, y: canonical coordinates in mm, any shape.
        at_donor: draw the shape where it came from (the donor defect) instead.

    Returns:
        SDF in mm, same shape as ``x``.
    """
    if at_donor:
        if frag.donor_center is None:
            raise ValueError("This fragment has no donor site.")
        cx, cy = frag.donor_center
        rot = math.radians(frag.donor_rotation_deg)
    else:
        cx, cy = frag.center
        rot = math.radians(frag.rotation_deg)
    c, s = math.cos(rot), math.sin(rot)
    lx = (x - cx) * c + (y - cy) * s
    ly = -(x - cx) * s + (y - cy) * c
    a = frag.radius_mm * math.sqrt(frag.aspect)
    b = frag.radius_mm / math.sqrt(frag.aspect)
    smooth = ellipse(lx, ly, a, b)
    if frag.angularity <= 0.0:
        return smooth
    angular = convex_polygon(lx, ly, np.asarray(frag.vertices, dtype=np.float64))
    out: Array = ((1.0 - frag.angularity) * smooth + frag.angularity * angular).astype(np.float32)
    return out


def fragment_attenuation(
    frag: FragmentParams,
    x: Array,
    y: Array,
    texture: Array,
    pixel_mm: float,
) -> tuple[Array, npt.NDArray[np.bool_]]:
    """Projected attenuation of the fragment and its mask.

    Pass a window of the image that holds the whole fragment (its radius, the rim and the
    anti-aliasing ramp are measured there).

    Args:
        frag: the fragment.
        x, y: canonical coordinates of each pixel, mm, shape (H, W).
        texture: zero-mean trabecular texture, shape (H, W).
        pixel_mm: pixel size in canonical mm (anti-aliasing width).

    Returns:
        ``(attenuation, mask)``: float32 (H, W) attenuation, and the boolean (H, W) mask of
        pixels whose centre lies inside the outline.
    """
    sdf = fragment_sdf(frag, x, y)
    mask = sdf < 0.0
    if not mask.any():
        return np.zeros_like(sdf), mask
    radius = max(float(-sdf.min()), 2.0 * pixel_mm)
    ang = np.degrees(np.arctan2(y - frag.center[1], x - frag.center[0]))
    rim_weight = np.ones_like(sdf)
    if frag.rim_gap_deg > 0.0:
        rel = (ang - frag.rim_gap_start_deg) % 360.0
        # Missing arc with soft 15-degree shoulders.
        edge = np.minimum(rel, frag.rim_gap_deg - rel)
        inside_gap = np.clip(edge / 15.0, 0.0, 1.0) * (rel < frag.rim_gap_deg)
        # The missing arc is where the shell is seen edge-on (depth up to about 1.5 times the
        # rim); the shell's front and back faces, seen face-on further in, stay.
        rim_mm = min(frag.rim_mm, 0.8 * radius)
        edge_on = np.clip(1.5 - (-sdf) / rim_mm, 0.0, 1.0)
        rim_weight = 1.0 - (inside_gap * edge_on).astype(np.float32)
    core = frag.density * (1.0 + frag.raggedness * texture)
    rim = core * (1.0 + (frag.rim_ratio - 1.0) * rim_weight)
    solid = shell_projection(sdf, radius, min(frag.rim_mm, 0.8 * radius), rim, core)
    flake = core * radius * 1.3 * soft_inside(sdf, pixel_mm)
    att: Array = ((1.0 - frag.flatness) * solid + frag.flatness * flake).astype(np.float32)
    return att, mask
