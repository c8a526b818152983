"""Synthetic ankle CT volumes, with or without a fracture plane, in Hounsfield units.

:func:`make_volume` draws the distal tibia (with the medial malleolus), the distal fibula
(lateral malleolus), the talus under the tibial plafond and the top of the calcaneus, inside
a soft-tissue envelope (muscle and tendon about 40 HU, a subcutaneous fat layer and Kager's
fat pad about -100 HU, the Achilles tendon) surrounded by air (-1000 HU). Each bone has a
cortical shell (1200–1800 HU) around a cancellous interior (200–400 HU) with a trabecular
texture. Pose (small rotations, translation, size) varies with the seed, as do noise (about
20 HU sd) and a slight blur.

A fractured volume has a thin (1–2 voxels along its normal) low-density plane (fluid or
soft-tissue HU, partly filled at low contrast) through the cortex of one of:

- the distal fibula — an oblique, Weber B–like plane running from anteroinferior to
  posterosuperior at the level of the syndesmosis;
- the medial malleolus — a plane rising medially from the medial corner of the joint;
- the posterior malleolus — a near-coronal plane cutting off the posterior lip of the
  plafond.

The seed picks the bone, the obliquity, the thickness, the contrast, whether the plane stops
part-way (a partial fracture, not displaced) and a displacement of the distal part (0–2
voxels). The ground truth is ``metadata["fracture_box"]``: (z0, y0, x0, z1, y1, x1) voxel
indices, upper bounds exclusive, around the plane's voxels inside bone, padded by
``box_padding_voxels`` (default (1, 2, 2)); None when not fractured. Read it with
:func:`fracture_box`.

Array axes are (z, y, x): z runs inferior to superior, y anterior to posterior, x from the
patient's right to left, as in a DICOM axial series. The affine maps voxel (x, y, z) indices
to RAS mm (``diag(-sx, -sy, sz)`` rotated by ``oblique_deg`` about the left–right axis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from ankle_core.phantoms.knobs import CtKnobs
from ankle_core.phantoms.sdf import (
    capsule3d,
    ellipse,
    ellipsoid,
    smooth_max,
    smooth_min,
    soft_inside,
)
from ankle_core.types import Box3D, Volume

__all__ = [
    "FRACTURE_BONES",
    "CtFracture",
    "CtParams",
    "fracture_box",
    "make_volume",
    "render_volume",
    "sample_volume_params",
]

Array = npt.NDArray[np.floating[Any]]
FRACTURE_BONES = ("fibula", "medial_malleolus", "posterior_malleolus")
_REFERENCE_FOV_MM = (96.0, 102.4, 102.4)  # (z, y, x) of the default shape and spacing
_ORIGIN_RAS = (90.0, 10.0, -850.0)  # RAS mm of the volume centre (a right ankle on the table)


@dataclass(frozen=True)
class CtFracture:
    """One fracture plane, in the canonical anatomy frame (mm).

    The frame: ``u`` towards medial, ``v`` towards posterior, ``w`` towards superior, origin
    at the middle of the tibial plafond.

    Attributes:
        bone: one of :data:`FRACTURE_BONES`.
        point: (u, v, w) point on the plane.
        normal: unit normal (u, v, w), pointing away from the distal (moving) fragment.
        thickness_voxels: thickness along the normal, in voxels of the grid.
        contrast: 0 (invisible) to 1 (the gap fully at ``fluid_hu``).
        fluid_hu: HU of what fills the gap.
        partial: True when the plane stops part-way through the bone.
        partial_axis: in-plane unit vector (u, v, w); a partial plane keeps
            ``partial_axis . (p - point) < partial_offset_mm``.
        partial_offset_mm: see ``partial_axis``.
        displacement_mm: (u, v, w) shift of the distal fragment (zero when partial).
    """

    bone: str
    point: tuple[float, float, float]
    normal: tuple[float, float, float]
    thickness_voxels: float
    contrast: float
    fluid_hu: float
    partial: bool
    partial_axis: tuple[float, float, float]
    partial_offset_mm: float
    displacement_mm: tuple[float, float, float]


@dataclass(frozen=True)
class CtParams:
    """Everything sampled for one volume.

    Attributes:
        seed: the volume's seed.
        shape: (z, y, x) voxels.
        spacing_mm: (z, y, x) mm.
        oblique_deg: gantry tilt written into the affine, degrees.
        laterality: ``"R"`` or ``"L"``.
        rotation_deg: (about z, about y, about x) pose rotation, degrees.
        shift_mm: (z, y, x) pose translation, mm.
        scale: anatomical scale, including the fit to the field of view.
        cortical_hu: cortical bone HU.
        cancellous_hu: cancellous bone HU.
        soft_tissue_hu: muscle and tendon HU.
        fat_hu: fat HU.
        fat_mm: subcutaneous fat thickness, mm.
        noise_sd_hu: noise standard deviation, HU.
        blur_voxels: blur sigma, voxels.
        texture_seed: seed of the trabecular texture.
        noise_seed: seed of the noise.
        fracture: the fracture, or None.
    """

    seed: int
    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    oblique_deg: float
    laterality: str
    rotation_deg: tuple[float, float, float]
    shift_mm: tuple[float, float, float]
    scale: float
    cortical_hu: float
    cancellous_hu: float
    soft_tissue_hu: float
    fat_hu: float
    fat_mm: float
    noise_sd_hu: float
    blur_voxels: float
    texture_seed: int
    noise_seed: int
    fracture: CtFracture | None


def _unit(vec: tuple[float, float, float]) -> tuple[float, float, float]:
    n = math.sqrt(sum(c * c for c in vec))
    return (vec[0] / n, vec[1] / n, vec[2] / n)


def _sample_fracture(
    rng: np.random.Generator, difficulty: float, knobs: CtKnobs, spacing: tuple[float, ...]
) -> CtFracture:
    bone = FRACTURE_BONES[int(rng.integers(len(FRACTURE_BONES)))]
    if bone == "fibula":
        theta = math.radians(float(rng.uniform(25.0, 60.0)))
        point = (-27.0, 6.5, float(rng.uniform(-6.0, 6.0)))
        normal = _unit((float(rng.uniform(-0.15, 0.15)), -math.sin(theta), math.cos(theta)))
        axis = _unit((1.0, 0.0, 0.0))
    elif bone == "medial_malleolus":
        alpha = math.radians(float(rng.uniform(15.0, 50.0)))
        point = (13.5, 0.0, float(rng.uniform(-2.0, 0.5)))
        normal = _unit((-math.sin(alpha), float(rng.uniform(-0.15, 0.15)), math.cos(alpha)))
        axis = _unit((0.0, 1.0, 0.0))
    else:
        phi = math.radians(float(rng.uniform(15.0, 40.0)))
        point = (2.0, float(rng.uniform(6.0, 10.0)), 0.0)
        normal = _unit((float(rng.uniform(-0.15, 0.15)), -1.0, math.tan(phi)))
        axis = _unit((1.0, 0.0, 0.0))
    # Make the in-plane axis exactly orthogonal to the normal.
    dot = sum(a * n for a, n in zip(axis, normal, strict=True))
    axis = _unit(tuple(a - dot * n for a, n in zip(axis, normal, strict=True)))  # type: ignore[arg-type]
    partial = bool(rng.random() < knobs.partial_probability * (0.5 + difficulty))
    lo, hi = knobs.fracture_contrast
    contrast = hi - (hi - lo) * difficulty * float(rng.uniform(0.3, 1.0))
    t_lo, t_hi = knobs.fracture_thickness_voxels
    thickness = t_hi - (t_hi - t_lo) * difficulty * float(rng.uniform(0.0, 1.0))
    disp_vox = 0.0 if partial else float(rng.uniform(0.0, knobs.displacement_voxels))
    direction = rng.standard_normal(3)
    direction -= direction.dot(normal) * np.asarray(normal)
    direction /= np.linalg.norm(direction) + 1e-9
    displacement = tuple(float(c) * disp_vox * min(spacing) for c in direction)
    return CtFracture(
        bone=bone,
        point=point,
        normal=normal,
        thickness_voxels=thickness,
        contrast=float(contrast),
        fluid_hu=float(rng.uniform(*knobs.fracture_hu)),
        partial=partial,
        partial_axis=axis,
        partial_offset_mm=float(rng.uniform(-2.0, 3.0)),
        displacement_mm=displacement,  # type: ignore[arg-type]
    )


def sample_volume_params(
    seed: int,
    fractured: bool,
    *,
    shape: tuple[int, int, int] = (48, 128, 128),
    spacing_mm: tuple[float, float, float] = (2.0, 0.8, 0.8),
    oblique_deg: float = 0.0,
    difficulty: float = 0.5,
    knobs: CtKnobs | None = None,
) -> CtParams:
    """Draw every random choice of one volume (nothing is rendered).

    Args:
        seed: volume seed; the anatomy, pose and noise depend on it alone.
        fractured: whether to draw a fracture plane.
        shape: (z, y, x) voxels.
        spacing_mm: (z, y, x) voxel spacing, mm.
        oblique_deg: gantry tilt written into the affine, degrees.
        difficulty: 0 (thick, full-contrast planes) to 1 (thin, faint, often partial).
        knobs: generator knobs; the defaults when None.

    Returns:
        The volume's :class:`CtParams`.

    Raises:
        ValueError: for a shape below 16 voxels on an axis, non-positive spacing or a
            difficulty outside [0, 1].
    """
    if len(shape) != 3 or min(shape) < 16:
        raise ValueError(f"shape must be three sizes of at least 16 voxels, got {shape}.")
    if len(spacing_mm) != 3 or min(spacing_mm) <= 0:
        raise ValueError(f"spacing_mm must be three positive numbers, got {spacing_mm}.")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must lie in [0, 1], got {difficulty}.")
    k = knobs or CtKnobs()
    anat_rng, frac_rng, tex_rng, noise_rng = np.random.default_rng(seed).spawn(4)
    fov = [n * s for n, s in zip(shape, spacing_mm, strict=True)]
    fit = min(f / r for f, r in zip(fov, _REFERENCE_FOV_MM, strict=True))
    params = CtParams(
        seed=int(seed),
        shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        spacing_mm=(float(spacing_mm[0]), float(spacing_mm[1]), float(spacing_mm[2])),
        oblique_deg=float(oblique_deg),
        laterality="L" if anat_rng.random() < 0.5 else "R",
        rotation_deg=tuple(float(a) for a in anat_rng.uniform(-k.rotation_deg, k.rotation_deg, 3)),  # type: ignore[arg-type]
        shift_mm=tuple(float(a) * fit for a in anat_rng.uniform(-k.shift_mm, k.shift_mm, 3)),  # type: ignore[arg-type]
        scale=float(anat_rng.uniform(*k.scale_range)) * fit,
        cortical_hu=float(anat_rng.uniform(*k.cortical_hu)),
        cancellous_hu=float(anat_rng.uniform(*k.cancellous_hu)),
        soft_tissue_hu=float(k.soft_tissue_hu),
        fat_hu=float(k.fat_hu),
        fat_mm=float(anat_rng.uniform(3.0, 7.0)),
        noise_sd_hu=float(anat_rng.uniform(*k.noise_sd_hu)),
        blur_voxels=float(anat_rng.uniform(*k.blur_voxels)),
        texture_seed=int(tex_rng.integers(2**31)),
        noise_seed=int(noise_rng.integers(2**31)),
        fracture=None,
    )
    if not fractured:
        return params
    return replace(params, fracture=_sample_fracture(frac_rng, difficulty, k, spacing_mm))


def _rotation(params: CtParams) -> npt.NDArray[np.float64]:
    """(3, 3) rotation acting on (z, y, x) grid vectors."""
    az, ay, ax = (math.radians(a) for a in params.rotation_deg)
    rz = np.array([[1, 0, 0], [0, math.cos(az), -math.sin(az)], [0, math.sin(az), math.cos(az)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rx = np.array([[math.cos(ax), -math.sin(ax), 0], [math.sin(ax), math.cos(ax), 0], [0, 0, 1]])
    out: npt.NDArray[np.float64] = rz @ ry @ rx
    return out


def _anatomy_grid(params: CtParams) -> tuple[Array, Array, Array]:
    """Canonical (u, v, w) mm of every voxel centre, each (z, y, x) float32."""
    axes = [
        ((np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * s - sh)
        for n, s, sh in zip(params.shape, params.spacing_mm, params.shift_mm, strict=True)
    ]
    rot = _rotation(params).astype(np.float32) / np.float32(params.scale)
    gz = axes[0][:, None, None]
    gy = axes[1][None, :, None]
    gx = axes[2][None, None, :]
    w = rot[0, 0] * gz + rot[0, 1] * gy + rot[0, 2] * gx + np.float32(8.0)
    v = rot[1, 0] * gz + rot[1, 1] * gy + rot[1, 2] * gx + np.float32(4.0)
    u = rot[2, 0] * gz + rot[2, 1] * gy + rot[2, 2] * gx - np.float32(3.0)
    if params.laterality == "L":
        u = -u
    # A superior slice has the higher z index; canonical w grows superiorly too.
    return u.astype(np.float32), v.astype(np.float32), w.astype(np.float32)


def _tibia(u: Array, v: Array, w: Array) -> tuple[Array, Array]:
    e = np.exp(-np.clip(w, 0.0, None) / 22.0)
    cross = ellipse(u - 2.0, v, 13.0 + 9.0 * e, 11.0 + 7.0 * e)
    plafond = -1.5 + 0.004 * v * v + 0.002 * u * u
    tibia = smooth_max(cross, plafond - w, 2.0)
    malleolus = capsule3d(u, v, w, (19.0, -1.0, 12.0), (18.0, 0.0, -9.0), 7.0, 5.0)
    out = smooth_min(tibia, malleolus, 3.0)
    cortex: Array = (1.0 + 2.5 * (1.0 - e)).astype(np.float32)
    return out, cortex


def _fibula(u: Array, v: Array, w: Array) -> tuple[Array, Array]:
    shaft = capsule3d(u, v, w, (-26.0, 7.0, 80.0), (-27.5, 6.5, -5.0), 6.0, 6.5)
    malleolus = ellipsoid(u + 28.0, v - 6.0, w + 8.0, 7.5, 9.0, 15.0)
    out = smooth_min(shaft, malleolus, 3.0)
    cortex: Array = (1.0 + 1.0 * (1.0 - np.exp(-np.clip(w, 0.0, None) / 22.0))).astype(np.float32)
    return out, cortex


def _talus(u: Array, v: Array, w: Array) -> Array:
    plafond = -1.5 + 0.004 * v * v + 0.002 * u * u
    body = ellipsoid(u + 3.0, v - 1.0, w + 15.0, 15.5, 22.0, 14.0)
    return smooth_max(body, w - (plafond - 2.5), 2.0)


# Canonical superior-inferior (w, mm) extent of each bone, with a margin for blending and
# displacement; bones are drawn in this order.
_BONE_W_RANGES: dict[str, tuple[float, float]] = {
    "tibia": (-22.0, math.inf),
    "fibula": (-30.0, math.inf),
    "talus": (-36.0, 4.0),
    "calcaneus": (-66.0, -28.0),
}


def _slab(w: Array, lo: float, hi: float) -> slice:
    """The z slices whose canonical ``w`` range meets [lo, hi]."""
    w_min = w.min(axis=(1, 2))
    w_max = w.max(axis=(1, 2))
    idx = np.nonzero((w_max >= lo) & (w_min <= hi))[0]
    if idx.size == 0:
        return slice(0, 0)
    return slice(int(idx[0]), int(idx[-1]) + 1)


def _bone_sdf(bone: str, u: Array, v: Array, w: Array) -> tuple[Array, Array]:
    if bone == "fibula":
        return _fibula(u, v, w)
    return _tibia(u, v, w)


def _fracture_weight(
    frac: CtFracture, params: CtParams, u: Array, v: Array, w: Array
) -> tuple[Array, Array]:
    """Soft membership of the fracture plane (0..1) and the signed side (mm, < 0 distal)."""
    side = (
        frac.normal[0] * (u - frac.point[0])
        + frac.normal[1] * (v - frac.point[1])
        + frac.normal[2] * (w - frac.point[2])
    )
    # The plane's normal in the voxel grid (z, y, x) frame, for its thickness in voxels.
    sign = -1.0 if params.laterality == "L" else 1.0
    n_grid = _rotation(params).T @ np.array([frac.normal[2], frac.normal[1], sign * frac.normal[0]])
    mm_per_voxel = float(np.sqrt(np.sum((n_grid * np.asarray(params.spacing_mm)) ** 2)))
    mm_per_voxel /= params.scale
    dist_vox = np.abs(side) / mm_per_voxel
    weight = np.clip(frac.thickness_voxels / 2.0 + 0.5 - dist_vox, 0.0, 1.0)
    if frac.partial:
        along = (
            frac.partial_axis[0] * (u - frac.point[0])
            + frac.partial_axis[1] * (v - frac.point[1])
            + frac.partial_axis[2] * (w - frac.point[2])
        )
        weight = weight * np.clip(frac.partial_offset_mm - along + 0.5, 0.0, 1.0)
    if frac.bone == "medial_malleolus":
        weight = weight * np.clip(u - 10.0, 0.0, 1.0)
    elif frac.bone == "posterior_malleolus":
        weight = weight * np.clip(14.0 - u, 0.0, 1.0)
    return weight.astype(np.float32), side.astype(np.float32)


def render_volume(params: CtParams) -> tuple[Array, npt.NDArray[np.bool_]]:
    """Render a volume from its parameters.

    Args:
        params: from :func:`sample_volume_params`; set ``fracture=None`` (with
            :func:`dataclasses.replace`) to render the same volume intact, same noise.

    Returns:
        ``(hu, fracture_mask)``: (z, y, x) float32 HU; and the boolean mask of voxels on the
        fracture plane inside bone (all False when not fractured).
    """
    u, v, w = _anatomy_grid(params)
    # Soft tissue: envelope (wider and more posterior towards the heel), fat layer, fat pad,
    # Achilles tendon.
    heel = 1.0 / (1.0 + np.exp((w + 15.0) / 8.0))
    env = ellipse(u + 2.0, v - 6.0 - 8.0 * heel, 36.0 + 4.0 * heel, 40.0 + 8.0 * heel)
    hu = -1000.0 + soft_inside(env, 0.8) * (params.fat_hu + 1000.0)
    hu += soft_inside(env + params.fat_mm, 0.8) * (params.soft_tissue_hu - params.fat_hu)
    pad = ellipsoid(u, v - 26.0, w - 5.0, 10.0, 6.0, 22.0)
    hu += soft_inside(pad, 1.0) * (params.fat_hu - params.soft_tissue_hu)
    tendon = smooth_max(ellipse(u, v - 36.0, 9.0, 3.5), -20.0 - w, 2.0)
    hu = hu * (1.0 - soft_inside(tendon, 0.8)) + soft_inside(tendon, 0.8) * 70.0
    tex = np.random.default_rng(params.texture_seed).standard_normal(u.shape, dtype=np.float32)
    tex = ndimage.gaussian_filter(tex, 0.7, truncate=2.5)
    tex *= 60.0 / (float(tex.std()) + 1e-6)
    frac = params.fracture
    mask = np.zeros(u.shape, dtype=bool)
    weight = side = None
    if frac is not None:
        weight, side = _fracture_weight(frac, params, u, v, w)
    for name, (lo, hi) in _BONE_W_RANGES.items():
        # Each bone is drawn only in the slices that can hold it.
        sl = _slab(w, lo, hi)
        if sl.start == sl.stop:
            continue
        uu, vv, ww = u[sl], v[sl], w[sl]
        cortex: Array | float
        if name == "talus":
            bone_sdf, cortex = _talus(uu, vv, ww), 1.6
        elif name == "calcaneus":
            bone_sdf = ellipsoid(uu + 4.0, vv - 16.0, ww + 47.0, 18.0, 34.0, 14.0)
            cortex = 1.0
        else:
            bone_sdf, cortex = _bone_sdf(name, uu, vv, ww)
        hit = frac is not None and (name == "fibula") == (frac.bone == "fibula")
        hit = hit and name in ("tibia", "fibula")
        if hit and frac is not None and side is not None and any(frac.displacement_mm):
            du, dv, dw = frac.displacement_mm
            moved, _ = _bone_sdf(name, uu - du, vv - dv, ww - dw)
            distal = side[sl] < 0.0
            if frac.bone == "medial_malleolus":
                distal &= uu > 10.0
            elif frac.bone == "posterior_malleolus":
                distal &= uu < 14.0
            bone_sdf = np.where(distal, moved, bone_sdf)
        inside = soft_inside(bone_sdf, 1.0)
        core = soft_inside(bone_sdf + cortex, 1.0)
        bone_hu = params.cortical_hu * (inside - core) + (params.cancellous_hu + tex[sl]) * core
        if hit and frac is not None and weight is not None:
            wf = weight[sl] * frac.contrast
            bone_hu = bone_hu * (1.0 - wf) + frac.fluid_hu * wf * inside
            mask[sl] = (weight[sl] >= 0.5) & (bone_sdf < 0.0)
        hu[sl] = hu[sl] * (1.0 - inside) + bone_hu
    hu = ndimage.gaussian_filter(hu, params.blur_voxels, truncate=2.5)
    noise = np.random.default_rng(params.noise_seed).standard_normal(u.shape, dtype=np.float32)
    hu = hu + params.noise_sd_hu * noise
    out: Array = np.clip(hu, -1024.0, 3071.0).astype(np.float32)
    return out, mask


def _affine(params: CtParams) -> npt.NDArray[np.float64]:
    sz, sy, sx = params.spacing_mm
    t = math.radians(params.oblique_deg)
    tilt = np.array(
        [[1.0, 0.0, 0.0], [0.0, math.cos(t), -math.sin(t)], [0.0, math.sin(t), math.cos(t)]]
    )
    linear = tilt @ np.diag([-sx, -sy, sz])
    nz, ny, nx = params.shape
    centre_index = np.array([(nx - 1) / 2.0, (ny - 1) / 2.0, (nz - 1) / 2.0])
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = np.asarray(_ORIGIN_RAS) - linear @ centre_index
    return affine


def _box_from_mask(
    mask: npt.NDArray[np.bool_], padding: tuple[int, int, int]
) -> tuple[int, int, int, int, int, int] | None:
    if not mask.any():
        return None
    lo: list[int] = []
    hi: list[int] = []
    for axis, pad in enumerate(padding):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.nonzero(mask.any(axis=other))[0]
        lo.append(max(int(idx[0]) - pad, 0))
        hi.append(min(int(idx[-1]) + 1 + pad, mask.shape[axis]))
    return (lo[0], lo[1], lo[2], hi[0], hi[1], hi[2])


def make_volume(
    seed: int,
    fractured: bool,
    *,
    shape: tuple[int, int, int] = (48, 128, 128),
    spacing_mm: tuple[float, float, float] = (2.0, 0.8, 0.8),
    oblique_deg: float = 0.0,
    difficulty: float = 0.5,
    knobs: CtKnobs | None = None,
) -> Volume:
    """Make one synthetic ankle CT, in HU, with its ground truth in the metadata.

    Args:
        seed: volume seed; the same arguments always give the same volume.
        fractured: whether to draw a fracture plane.
        shape: (z, y, x) voxels (at least 16 each). The anatomy is scaled to the field of
            view, so small shapes keep the whole ankle.
        spacing_mm: (z, y, x) voxel spacing, mm (anisotropic by default).
        oblique_deg: gantry tilt written into the affine (rotation about the left–right
            axis), degrees.
        difficulty: 0 (thick, full-contrast planes) to 1 (thin, faint, often partial).
        knobs: generator knobs; the defaults when None.

    Returns:
        A :class:`~ankle_core.types.Volume`, (z, y, x) float32 HU, with metadata
        ``modality="CT"``, ``body_part="ANKLE"``, ``synthetic=True``, ``fractured`` (bool),
        ``fracture_box`` ((z0, y0, x0, z1, y1, x1), upper bounds exclusive, or None),
        ``fracture_bone`` (or None), ``laterality`` and ``seed``.

    >>> vol = make_volume(0, True, shape=(16, 32, 32), spacing_mm=(4.0, 3.2, 3.2))
    >>> vol.shape, vol.metadata["fractured"]
    ((16, 32, 32), True)
    """
    params = sample_volume_params(
        seed,
        fractured,
        shape=shape,
        spacing_mm=spacing_mm,
        oblique_deg=oblique_deg,
        difficulty=difficulty,
        knobs=knobs,
    )
    hu, mask = render_volume(params)
    padding = (knobs or CtKnobs()).box_padding_voxels
    box = _box_from_mask(mask, padding) if fractured else None
    frac = params.fracture
    metadata: dict[str, Any] = {
        "modality": "CT",
        "body_part": "ANKLE",
        "synthetic": True,
        "laterality": params.laterality,
        "seed": int(seed),
        "fractured": bool(fractured),
        "fracture_box": box,
        "fracture_bone": frac.bone if frac is not None else None,
        "fracture_partial": frac.partial if frac is not None else None,
        "oblique_deg": float(oblique_deg),
        "difficulty": float(difficulty),
    }
    return Volume(array=hu, spacing_mm=params.spacing_mm, affine=_affine(params), metadata=metadata)


def fracture_box(volume: Volume) -> Box3D | None:
    """The ground-truth fracture box stored by :func:`make_volume`.

    Args:
        volume: a phantom volume (or one whose metadata carries ``fracture_box``).

    Returns:
        The :class:`~ankle_core.types.Box3D` in voxel indices (z, y, x), upper bounds
        exclusive, or None when the volume is not fractured or carries no box.
    """
    raw = volume.metadata.get("fracture_box")
    if raw is None:
        return None
    z0, y0, x0, z1, y1, x1 = (int(c) for c in raw)
    return Box3D(z0, y0, x0, z1, y1, x1)
