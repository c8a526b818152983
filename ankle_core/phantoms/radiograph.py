"""Synthetic AP and mortise ankle radiographs with a fragment below the fibular tip.

:func:`make_case` draws one frontal ankle radiograph: the distal tibia with its medial
malleolus, the fibula with the lateral malleolus (its tip about 2 cm below the tibial
plafond), the talar dome in the mortise with a joint space, the calcaneus superimposed
below, a soft-tissue envelope and air around it. The mortise view (internal rotation) clears
the fibula off the talus; the plain AP view overlaps them. Bones are corticated solids: the
cortex projects as a bright line along each edge, the cancellous interior is darker and
carries a trabecular texture. The image is ``1 - exp(-gain * attenuation)`` (bone bright),
blurred, with quantum-like noise (brighter areas noisier).

Radiological signs of the fragment (``kind``):

- ``"sfo"`` — subfibular ossicle, an accessory ossicle: round or oval, smooth outline, a
  continuous cortical rim (bright rim, darker centre), an intact, smoothly rounded fibular
  tip, and a clear gap between them.
- ``"lmaf"`` — lateral malleolar avulsion fracture: an irregular, angular fragment, not
  corticated (uniform or ragged density, no rim), close to the tip, with a matching donor
  defect: a notch in the tip's outline whose shape is the fragment's shape before it moved.
- ``"none"`` — no fragment; the tip is intact.

With a probability that grows with ``difficulty`` (knob ``blend_probability``) a fragment
borrows the other class's signs: an SFO with a partly broken rim and some angularity; an
LMAF that is small and roundish, with a faint rim and a shallow donor defect. Fragment sizes
overlap, and noise and blur (both growing with ``difficulty``) can hide a rim, so a
classifier cannot trivially separate the classes. Every knob lives in
:class:`ankle_core.phantoms.knobs.PhantomKnobs`.

Everything is deterministic per ``(seed, kind, size, difficulty, knobs)``: the anatomy,
pose, exposure and noise depend on ``seed`` alone (the same seed gives the same ankle for
each ``kind``), the fragment on ``seed`` and ``kind``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from ankle_core.phantoms.fragment import FragmentParams, fragment_attenuation, fragment_sdf
from ankle_core.phantoms.fragment import sample_fragment as _sample_fragment
from ankle_core.phantoms.knobs import PhantomKnobs
from ankle_core.phantoms.projection import shell_projection
from ankle_core.phantoms.sdf import (
    capsule,
    ellipse,
    rounded_box,
    smooth_max,
    smooth_min,
    soft_inside,
)
from ankle_core.types import Box2D, Radiograph

__all__ = [
    "KINDS",
    "RadiographCase",
    "RadiographParams",
    "make_case",
    "pixel_window",
    "render_radiograph",
    "sample_radiograph_params",
    "tip_ellipse",
]

Array = npt.NDArray[np.floating[Any]]
KINDS = ("lmaf", "sfo", "none")
VIEWS = ("ap", "mortise")

# Attenuation per mm (arbitrary units, soft tissue through the ankle sums to about 0.35).
_SOFT = 0.0045
_CANCELLOUS = 0.024
_CORTEX = 0.11
_FRAGMENT = 2.0 * _CANCELLOUS


@dataclass(frozen=True)
class RadiographParams:
    """Everything sampled for one radiograph (mm, degrees, image units).

    Attributes:
        seed: the case seed.
        kind: ``"lmaf"``, ``"sfo"`` or ``"none"``.
        size: image side in pixels.
        difficulty: 0 to 1.
        view: ``"ap"`` or ``"mortise"``.
        laterality: ``"R"`` or ``"L"`` (a left ankle is drawn mirrored).
        pixel_spacing_mm: pixel side in mm.
        rotation_deg: in-plane rotation.
        scale: anatomical scale (size of the ankle relative to the canonical one).
        center_mm: canonical (x, y) point at the image centre, mm.
        fibula_x_mm: x of the fibular axis at the malleolus, mm (view-dependent overlap).
        tip_length_mm: how far the lateral malleolus reaches below its ellipse centre, mm.
        joint_space_mm: tibiotalar joint space, mm.
        soft_width_mm: half-width of the soft-tissue envelope at the malleoli, mm.
        exposure: gain of the exposure curve.
        fog: air (background) brightness.
        noise_sd: noise standard deviation at mid-grey, image units.
        blur_px: Gaussian blur sigma, pixels.
        texture_seed: seed of the trabecular texture.
        noise_seed: seed of the noise.
        fragment: the fragment, or None for ``"none"``.
    """

    seed: int
    kind: str
    size: int
    difficulty: float
    view: str
    laterality: str
    pixel_spacing_mm: float
    rotation_deg: float
    scale: float
    center_mm: tuple[float, float]
    fibula_x_mm: float
    tip_length_mm: float
    joint_space_mm: float
    soft_width_mm: float
    exposure: float
    fog: float
    noise_sd: float
    blur_px: float
    texture_seed: int
    noise_seed: int
    fragment: FragmentParams | None


@dataclass(frozen=True)
class RadiographCase:
    """One phantom radiograph with its ground truth.

    Attributes:
        radiograph: the image, (H, W) float32 in [0, 1], bone bright, pixel spacing set.
        boxes: ground-truth fragment boxes, pixels, xyxy (upper bounds exclusive); empty for
            ``"none"``.
        label: ``"lmaf"``, ``"sfo"`` or ``"none"``.
        seed: the seed it was drawn from.
        view: ``"ap"`` or ``"mortise"``.
        params: a small dict of the sampled parameters (plain floats, strings and bools).
    """

    radiograph: Radiograph
    boxes: tuple[Box2D, ...]
    label: str
    seed: int
    view: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


def _lerp(lo_hi: tuple[float, float], t: float) -> float:
    return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * t


def tip_ellipse(params: RadiographParams) -> tuple[tuple[float, float], tuple[float, float]]:
    """Centre (x, y) and semi-axes (a, b), canonical mm, of the lateral malleolus's tip ellipse."""
    b = 6.0 + params.tip_length_mm
    return (params.fibula_x_mm - 1.0, 20.0 - params.tip_length_mm), (8.3, b)


def sample_radiograph_params(
    seed: int,
    kind: str,
    *,
    size: int = 512,
    difficulty: float = 0.5,
    knobs: PhantomKnobs | None = None,
) -> RadiographParams:
    """Draw every random choice of one case (nothing is rendered).

    Args:
        seed: case seed (any non-negative int).
        kind: ``"lmaf"``, ``"sfo"`` or ``"none"``.
        size: image side in pixels.
        difficulty: 0 (textbook signs, little noise) to 1 (blended signs, noisy, blurred).
        knobs: generator knobs; the defaults when None.

    Returns:
        The case's :class:`RadiographParams`.

    Raises:
        ValueError: for an unknown ``kind``, a size below 64 px or a difficulty outside
            [0, 1].
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    if size < 64:
        raise ValueError(f"size must be at least 64 pixels, got {size}.")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must lie in [0, 1], got {difficulty}.")
    k = knobs or PhantomKnobs()
    anat_rng, frag_rng, tex_rng, noise_rng = np.random.default_rng(seed).spawn(4)
    view = VIEWS[int(anat_rng.random() < k.mortise_probability)]
    laterality = "L" if anat_rng.random() < k.left_probability else "R"
    fibula_x = (-30.0 if view == "mortise" else -25.0) + float(anat_rng.uniform(-1.5, 1.5))
    u_noise, u_blur = anat_rng.uniform(0.4, 1.0, size=2)
    params = RadiographParams(
        seed=int(seed),
        kind=kind,
        size=int(size),
        difficulty=float(difficulty),
        view=view,
        laterality=laterality,
        pixel_spacing_mm=k.fov_mm / size,
        rotation_deg=float(anat_rng.uniform(-k.rotation_deg, k.rotation_deg)),
        scale=float(anat_rng.uniform(*k.scale_range)),
        center_mm=(
            -4.0 + float(anat_rng.uniform(-k.shift_mm, k.shift_mm)),
            9.0 + float(anat_rng.uniform(-k.shift_mm, k.shift_mm)),
        ),
        fibula_x_mm=fibula_x,
        tip_length_mm=float(anat_rng.uniform(6.0, 9.0)),
        joint_space_mm=float(anat_rng.uniform(2.5, 4.0)),
        soft_width_mm=float(anat_rng.uniform(36.0, 42.0)),
        exposure=float(anat_rng.uniform(*k.exposure_range)),
        fog=float(anat_rng.uniform(0.02, 0.08)),
        noise_sd=_lerp(k.noise_sd_range, difficulty * float(u_noise)),
        blur_px=_lerp(k.blur_px_range, difficulty * float(u_blur)),
        texture_seed=int(tex_rng.integers(2**31)),
        noise_seed=int(noise_rng.integers(2**31)),
        fragment=None,
    )
    if kind == "none":
        return params
    tip, axes = tip_ellipse(params)
    frag = _sample_fragment(frag_rng, kind, difficulty, tip, axes, k)
    return replace(params, fragment=frag)


def _canonical_grid(params: RadiographParams) -> tuple[Array, Array]:
    """Canonical (x, y) mm of every pixel centre, each (H, W) float32."""
    n = params.size
    coords = (np.arange(n, dtype=np.float32) + 0.5 - n / 2.0) * params.pixel_spacing_mm
    dx, dy = np.meshgrid(coords, coords)
    if params.laterality == "L":
        dx = -dx
    th = math.radians(params.rotation_deg)
    c, s = math.cos(th), math.sin(th)
    x = (c * dx + s * dy) / params.scale + params.center_mm[0]
    y = (-s * dx + c * dy) / params.scale + params.center_mm[1]
    return x.astype(np.float32), y.astype(np.float32)


def pixel_window(
    params: RadiographParams, center: tuple[float, float], radius_mm: float
) -> tuple[slice, slice]:
    """Pixel rows and columns of the image that hold a canonical disc (plus 3 pixels).

    Args:
        params: the case.
        center: (x, y) canonical mm.
        radius_mm: disc radius, canonical mm.

    Returns:
        ``(rows, cols)`` slices, clipped to the image.
    """
    n = params.size
    th = math.radians(params.rotation_deg)
    c, s = math.cos(th), math.sin(th)
    u = (center[0] - params.center_mm[0]) * params.scale
    v = (center[1] - params.center_mm[1]) * params.scale
    dx, dy = c * u - s * v, s * u + c * v
    if params.laterality == "L":
        dx = -dx
    col = dx / params.pixel_spacing_mm + n / 2.0 - 0.5
    row = dy / params.pixel_spacing_mm + n / 2.0 - 0.5
    half = radius_mm * params.scale / params.pixel_spacing_mm + 3.0
    r0, r1 = (
        int(np.clip(math.floor(row - half), 0, n)),
        int(np.clip(math.ceil(row + half) + 1, 0, n)),
    )
    c0, c1 = (
        int(np.clip(math.floor(col - half), 0, n)),
        int(np.clip(math.ceil(col + half) + 1, 0, n)),
    )
    return slice(r0, r1), slice(c0, c1)


def _fragment_reach(frag: FragmentParams) -> float:
    """Radius (mm) of a disc around the fragment's centre that holds all of it."""
    vertex = max(math.hypot(vx, vy) for vx, vy in frag.vertices)
    return max(vertex, frag.radius_mm * math.sqrt(frag.aspect)) + 1.0


def _texture(params: RadiographParams) -> Array:
    """Zero-mean trabecular texture in about [-1, 1]: smoothed noise, vertically elongated."""
    rng = np.random.default_rng(params.texture_seed)
    white = rng.standard_normal((params.size, params.size), dtype=np.float32)
    px = params.pixel_spacing_mm / params.scale
    fine = ndimage.gaussian_filter(white, sigma=(0.32 / px, 0.18 / px), mode="wrap", truncate=3.0)
    fine /= float(fine.std()) + 1e-6
    out: Array = np.tanh(fine).astype(np.float32)
    return out


def _bones(params: RadiographParams, x: Array, y: Array, tex: Array, px: float) -> Array:
    """Projected attenuation of tibia, fibula, talus and calcaneus."""
    trab = _CANCELLOUS * (1.0 + 0.3 * tex)
    # Tibia: the metaphysis flares towards the plafond; the medial malleolus hangs below.
    flare = np.exp(np.minimum(y, 0.0) / 24.0)
    plafond = -1.5 + 0.0045 * (x + 4.0) ** 2
    # The lateral flare (the tibial tubercles) reaches the fibula: wide tibiofibular
    # overlap on the AP view, narrow on the mortise view.
    sides = smooth_max(-14.0 - 9.5 * flare**1.5 - x, x - 14.0 - 9.0 * flare, 2.0)
    tibia = smooth_max(sides, y - plafond, 3.0)
    malleolus = capsule(x, y, (18.5, -10.0), (17.8, 9.0), 6.0, 4.6)
    tibia = smooth_min(tibia, malleolus, 3.0)
    cortex_t = 0.9 + 3.0 * (1.0 - flare) ** 2
    # Up the shaft, cancellous bone gives way to the fatty marrow of the medullary canal.
    marrow = trab * (0.35 + 0.65 * flare)
    att = shell_projection(tibia, 17.0, cortex_t, _CORTEX, marrow)
    # Fibula: shaft plus the lateral malleolus; an LMAF bites a donor defect out of the tip.
    (tcx, tcy), (ta, tb) = tip_ellipse(params)
    fx = params.fibula_x_mm
    shaft = capsule(x, y, (fx + 2.0, -120.0), (fx + 0.5, tcy - 6.0), 5.8, 6.2)
    fibula = smooth_min(shaft, ellipse(x - tcx, y - tcy, ta, tb), 4.0)
    fib_cortex = 0.8 + 1.2 * (1.0 - flare) ** 2
    fib_att = shell_projection(fibula, 7.5, fib_cortex, _CORTEX, marrow)
    frag = params.fragment
    if frag is not None and frag.donor_center is not None:
        win = pixel_window(params, frag.donor_center, _fragment_reach(frag))
        defect = fragment_sdf(frag, x[win], y[win], at_donor=True)
        fib_att[win] = fib_att[win] * (1.0 - soft_inside(defect, px))
    att = att + fib_att
    # Talus: a dome parallel to the plafond across the joint space, sides converging
    # downwards; the calcaneus (with the sustentaculum medially) is superimposed on its
    # lower part (fainter: seen through the hindfoot).
    # Both are drawn only in a window that holds them (they are far from the image edges).
    win = pixel_window(params, (-5.0, 16.0), 26.0)
    xw, yw = x[win], y[win]
    dome = -1.5 + 0.0045 * (xw + 4.0) ** 2 + params.joint_space_mm
    taper = 1.0 - 0.011 * np.clip(yw - 4.0, 0.0, None)
    body = rounded_box((xw + 5.0) / taper, yw - 16.5, 16.6, 14.5, 8.0) * taper
    talus = smooth_max(body, dome - yw, 3.0)
    talus_cortex = 1.2 - 0.6 * np.clip((yw - 14.0) / 14.0, 0.0, 1.0)
    att[win] += shell_projection(talus, 16.0, talus_cortex, _CORTEX, trab[win])
    win = pixel_window(params, (-3.0, 40.0), 29.0)
    xw, yw = x[win], y[win]
    calc = smooth_min(
        ellipse(xw + 2.0, yw - 42.0, 24.0, 16.0), ellipse(xw - 9.0, yw - 31.0, 10.0, 7.0), 4.0
    )
    att[win] += 0.28 * shell_projection(calc, 18.0, 0.8, _CORTEX, trab[win])
    return att


def _soft_tissue(params: RadiographParams, x: Array, y: Array) -> Array:
    """Projected attenuation of the soft-tissue envelope (a cylinder widening to the foot)."""
    half = params.soft_width_mm - 4.0 + 4.0 / (1.0 + np.exp(-(y + 5.0) / 8.0))
    half = half + 10.0 / (1.0 + np.exp(-(y - 40.0) / 10.0))
    xc = -3.0 + 0.04 * y
    chord = 2.0 * np.sqrt(np.clip(half * half - (x - xc) ** 2, 0.0, None))
    out: Array = (_SOFT * chord).astype(np.float32)
    return out


def render_radiograph(
    params: RadiographParams,
    *,
    draw_fragment: bool = True,
    draw_defect: bool = True,
) -> tuple[Array, npt.NDArray[np.bool_]]:
    """Render a case from its parameters.

    Args:
        params: from :func:`sample_radiograph_params`.
        draw_fragment: False renders the same case without the fragment (same noise).
        draw_defect: False keeps the fibular tip intact even for an LMAF.

    Returns:
        ``(pixels, fragment_mask)``: (H, W) float32 in [0, 1], bone bright; and the (H, W)
        boolean mask of pixels inside the fragment's outline (all False without one).
    """
    x, y = _canonical_grid(params)
    px = params.pixel_spacing_mm / params.scale
    tex = _texture(params)
    frag = params.fragment
    if frag is not None and not draw_defect:
        frag = replace(frag, donor_center=None)
    att = _soft_tissue(params, x, y) + _bones(replace(params, fragment=frag), x, y, tex, px)
    mask = np.zeros(x.shape, dtype=bool)
    if frag is not None:
        win = pixel_window(params, frag.center, _fragment_reach(frag))
        frag_att, mask[win] = fragment_attenuation(frag, x[win], y[win], tex[win], px)
        if draw_fragment:
            att[win] = att[win] + _FRAGMENT * frag_att
    att = ndimage.gaussian_filter(att, sigma=params.blur_px, truncate=3.0)
    signal = 1.0 - np.exp(-params.exposure * att)
    image = params.fog + (0.97 - params.fog) * signal
    rng = np.random.default_rng(params.noise_seed)
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    image = image + params.noise_sd * (0.4 + 1.2 * image) * noise
    pixels: Array = np.clip(image, 0.0, 1.0).astype(np.float32)
    if not draw_fragment:
        mask = np.zeros(x.shape, dtype=bool)
    return pixels, mask


def _box_from_mask(mask: npt.NDArray[np.bool_]) -> Box2D | None:
    if not mask.any():
        return None
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    return Box2D(float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def _summary(params: RadiographParams) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": params.kind,
        "difficulty": params.difficulty,
        "view": params.view,
        "laterality": params.laterality,
        "pixel_spacing_mm": round(params.pixel_spacing_mm, 6),
        "rotation_deg": round(params.rotation_deg, 3),
        "scale": round(params.scale, 4),
        "exposure": round(params.exposure, 4),
        "noise_sd": round(params.noise_sd, 5),
        "blur_px": round(params.blur_px, 3),
    }
    frag = params.fragment
    if frag is not None:
        out.update(
            blended=frag.blended,
            fragment_radius_mm=round(frag.radius_mm, 3),
            angularity=round(frag.angularity, 3),
            rim_ratio=round(frag.rim_ratio, 3),
            rim_gap_deg=round(frag.rim_gap_deg, 1),
            defect_fraction=round(frag.defect_fraction, 3),
        )
    return out


def make_case(
    seed: int,
    kind: str,
    *,
    size: int = 512,
    difficulty: float = 0.5,
    knobs: PhantomKnobs | None = None,
) -> RadiographCase:
    """Make one synthetic ankle radiograph with its ground truth.

    Args:
        seed: case seed; the same arguments always give the same case.
        kind: ``"lmaf"``, ``"sfo"`` or ``"none"``.
        size: image side in pixels (square image).
        difficulty: 0 (textbook signs, little noise) to 1 (blended signs, noisy, blurred).
        knobs: generator knobs; the defaults when None.

    Returns:
        A :class:`RadiographCase`: (size, size) float32 pixels in [0, 1], bone bright, and one
        box (pixels, xyxy) per fragment.

    Raises:
        ValueError: for an unknown ``kind``, a size below 64 or a difficulty outside [0, 1].

    >>> case = make_case(0, "sfo", size=128)
    >>> case.radiograph.shape, case.label, len(case.boxes)
    ((128, 128), 'sfo', 1)
    """
    params = sample_radiograph_params(seed, kind, size=size, difficulty=difficulty, knobs=knobs)
    pixels, mask = render_radiograph(params)
    box = _box_from_mask(mask)
    boxes = (box,) if box is not None else ()
    spacing = params.pixel_spacing_mm
    metadata = {
        "modality": "DX",
        "body_part": "ANKLE",
        "view_position": "AP" if params.view == "ap" else "MORTISE",
        "view": params.view,
        "laterality": params.laterality,
        "synthetic": True,
        "photometric": "MONOCHROME2",
    }
    radiograph = Radiograph(
        pixels=pixels,
        pixel_spacing_mm=(spacing, spacing),
        metadata=metadata,
        source_format="array",
    )
    return RadiographCase(
        radiograph=radiograph,
        boxes=boxes,
        label=kind,
        seed=int(seed),
        view=params.view,
        params=_summary(params),
    )
