"""Hand-crafted fragment features measured on rendered phantom cases (test helper)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ankle_core.phantoms.radiograph import render_radiograph, sample_radiograph_params


@dataclass(frozen=True)
class FragmentFeatures:
    """Hand-crafted features of one rendered fragment.

    Attributes:
        rim_contrast: mean of the band 0.2–0.85 mm inside the outline minus the mean of the
            centre (depth above 60 % of the deepest), image units.
        circularity: 4 pi area / perimeter**2 of the ground-truth mask (1 = disc).
    """

    rim_contrast: float
    circularity: float


def fragment_features(
    seed: int, kind: str, size: int = 512, difficulty: float = 0.5
) -> FragmentFeatures:
    from skimage.measure import perimeter

    params = sample_radiograph_params(seed, kind, size=size, difficulty=difficulty)
    image, mask = render_radiograph(params)
    depth = ndimage.distance_transform_edt(mask) * params.pixel_spacing_mm / params.scale
    ring = (depth > 0.2) & (depth <= 0.85)
    core = depth > max(0.6 * float(depth.max()), 0.85)
    if core.sum() < 3:
        core = depth >= float(depth.max()) - 0.1
    rim = float(image[ring].mean() - image[core].mean())
    circularity = float(4 * np.pi * mask.sum() / perimeter(mask) ** 2)
    return FragmentFeatures(rim, circularity)
