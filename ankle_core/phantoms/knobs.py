"""The knobs of the phantom generators, with their defaults.

Every random choice the generators make is drawn from a range given here, so a study can
make the phantoms easier or harder without touching the drawing code. ``difficulty``
(an argument of :func:`ankle_core.phantoms.make_case`) moves several of these knobs at once;
the knobs set the ends of the ranges it moves along. Lengths are in mm, angles in degrees,
intensities in the phantom's attenuation units (soft tissue about 0.3, bone about 1).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CtKnobs", "PhantomKnobs"]


@dataclass(frozen=True)
class PhantomKnobs:
    """Knobs of the radiograph phantom (:mod:`ankle_core.phantoms.radiograph`).

    Attributes:
        fov_mm: field of view across the image at anatomical scale 1, in mm (the pixel
            spacing is ``fov_mm / size``; 110 mm gives about 0.21 mm at 512 px).
        rotation_deg: largest in-plane rotation, either way, in degrees.
        scale_range: anatomical scale (patient size and magnification), low and high.
        shift_mm: largest shift of the ankle from the image centre, in mm, each axis.
        mortise_probability: chance that the view is a mortise view rather than a plain AP.
        left_probability: chance that the ankle is a left one (the image is mirrored).
        exposure_range: gain of the exposure curve ``1 - exp(-gain * attenuation)``.
        noise_sd_range: quantum-like noise standard deviation at difficulty 0 and at
            difficulty 1 (in image units at mid-grey; brighter, more attenuated areas get
            more noise, as with fewer photons).
        blur_px_range: Gaussian blur sigma in pixels at difficulty 0 and at difficulty 1.
        sfo_radius_mm: SFO (ossicle) mean radius range.
        lmaf_radius_mm: LMAF (avulsed fragment) mean radius range; it overlaps the SFO range.
        blend_probability: chance, at difficulty 0 and at difficulty 1, that a fragment
            borrows the other class's signs (a rim broken or angular SFO; a small, roundish
            LMAF with a faint rim and a subtle donor defect). Interpolated linearly.
        sfo_gap_mm: gap between the intact fibular tip and the ossicle.
        lmaf_gap_mm: gap between the donor defect and the avulsed fragment.
        sfo_rim_mm: thickness of the ossicle's cortical rim.
        sfo_rim_ratio: density of the ossicle's rim over its cancellous core.
        sfo_blend_rim_ratio: the same for a blended SFO (a weaker, partly broken rim).
        lmaf_faint_rim_ratio: rim-to-core density ratio of a blended (faint-rimmed) LMAF.
        lmaf_defect_fraction: for a clear LMAF, the fraction of the fragment's depth
            that comes out of the fibular tip (the donor defect's depth).
        lmaf_subtle_defect_fraction: the same for a blended LMAF (a subtle defect).
        sfo_broken_rim_deg: arc of rim missing on a blended SFO, in degrees.
        sfo_angularity: angularity (0 = ellipse, 1 = polygon) of a blended SFO.
        lmaf_angularity: angularity of a clear LMAF.
        lmaf_blend_angularity: angularity of a blended, roundish LMAF.
        fragment_contrast: density scale of the fragment (1: an LMAF is twice as dense per
            mm as the fibula's cancellous bone; an SFO's core is a quarter of that and its
            rim ``sfo_rim_ratio`` times its core).
    """

    fov_mm: float = 110.0
    rotation_deg: float = 5.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    shift_mm: float = 5.0
    mortise_probability: float = 0.5
    left_probability: float = 0.5
    exposure_range: tuple[float, float] = (0.85, 1.2)
    noise_sd_range: tuple[float, float] = (0.006, 0.03)
    blur_px_range: tuple[float, float] = (0.5, 1.4)
    sfo_radius_mm: tuple[float, float] = (2.0, 5.5)
    lmaf_radius_mm: tuple[float, float] = (1.5, 4.5)
    blend_probability: tuple[float, float] = (0.05, 0.55)
    sfo_gap_mm: tuple[float, float] = (1.0, 4.0)
    lmaf_gap_mm: tuple[float, float] = (0.3, 2.0)
    sfo_rim_mm: tuple[float, float] = (0.6, 1.0)
    sfo_rim_ratio: tuple[float, float] = (6.0, 10.0)
    sfo_blend_rim_ratio: tuple[float, float] = (2.5, 4.0)
    lmaf_faint_rim_ratio: tuple[float, float] = (3.0, 6.0)
    lmaf_defect_fraction: tuple[float, float] = (0.55, 0.85)
    lmaf_subtle_defect_fraction: tuple[float, float] = (0.05, 0.3)
    sfo_broken_rim_deg: tuple[float, float] = (60.0, 160.0)
    sfo_angularity: tuple[float, float] = (0.2, 0.5)
    lmaf_angularity: tuple[float, float] = (0.7, 1.0)
    lmaf_blend_angularity: tuple[float, float] = (0.1, 0.4)
    fragment_contrast: tuple[float, float] = (0.8, 1.2)


@dataclass(frozen=True)
class CtKnobs:
    """Knobs of the CT phantom (:mod:`ankle_core.phantoms.ct`).

    Attributes:
        rotation_deg: largest rotation about each axis, either way, in degrees.
        shift_mm: largest translation of the ankle, in mm, each axis.
        scale_range: anatomical scale, low and high.
        cortical_hu: cortical bone HU range.
        cancellous_hu: cancellous bone HU range.
        soft_tissue_hu: soft tissue (muscle, tendon) HU.
        fat_hu: subcutaneous and pad fat HU.
        noise_sd_hu: image noise standard deviation, in HU.
        blur_voxels: Gaussian blur sigma range, in voxels.
        fracture_thickness_voxels: thickness of the fracture plane along its normal, in
            voxels: the high end at difficulty 0, down to the low end at difficulty 1.
        fracture_hu: HU range of what fills the gap (haematoma, fluid, soft tissue).
        fracture_contrast: fraction (low, high) of the way from bone HU to the gap's HU; low
            values give faint, partly filled fractures.
        partial_probability: chance the fracture stops part-way through the bone.
        displacement_voxels: largest shift of the distal fragment, in in-plane voxels.
        box_padding_voxels: padding added around the fracture's voxels, (z, y, x).
    """

    rotation_deg: float = 4.0
    shift_mm: float = 4.0
    scale_range: tuple[float, float] = (0.92, 1.08)
    cortical_hu: tuple[float, float] = (1200.0, 1800.0)
    cancellous_hu: tuple[float, float] = (200.0, 400.0)
    soft_tissue_hu: float = 40.0
    fat_hu: float = -100.0
    noise_sd_hu: tuple[float, float] = (15.0, 25.0)
    blur_voxels: tuple[float, float] = (0.4, 0.8)
    fracture_thickness_voxels: tuple[float, float] = (1.0, 2.0)
    fracture_hu: tuple[float, float] = (0.0, 80.0)
    fracture_contrast: tuple[float, float] = (0.55, 1.0)
    partial_probability: float = 0.35
    displacement_voxels: float = 2.0
    box_padding_voxels: tuple[int, int, int] = (1, 2, 2)
