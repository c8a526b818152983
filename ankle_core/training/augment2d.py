"""2D augmentation for radiograph training: rotation, flips, crops, brightness and contrast.

One random affine map (rotation up to ``max_rotation_deg``, horizontal flip, zoom and
shift, i.e. a random crop) is applied to the image and to its boxes, then a random
brightness/contrast change. Boxes are carried through the rotation as the box of their
inscribed ellipse, which does not inflate them the way rotating the corners does.
Every random draw comes from the ``np.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

__all__ = ["AugmentConfig", "augment_image"]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random augmentation.

    Attributes:
        max_rotation_deg: rotation drawn uniformly in ±this, degrees.
        hflip_probability: chance of a left-right flip (left and right ankles).
        vflip_probability: chance of an up-down flip (0 for radiographs by default).
        zoom_range: scale factor range (>1 zooms in: a random crop).
        max_shift_frac: shift in ±this fraction of the image size, each axis.
        brightness: additive change in ±this (image units, [0, 1] scale).
        contrast_range: multiplicative contrast about the mean.
    """

    max_rotation_deg: float = 20.0
    hflip_probability: float = 0.5
    vflip_probability: float = 0.0
    zoom_range: tuple[float, float] = (0.9, 1.15)
    max_shift_frac: float = 0.08
    brightness: float = 0.08
    contrast_range: tuple[float, float] = (0.8, 1.25)


def augment_image(
    image: npt.NDArray[np.floating],
    boxes: npt.NDArray[np.floating],
    rng: np.random.Generator,
    config: AugmentConfig | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Apply one random augmentation to a grey image and its boxes.

    Args:
        image: (H, W) float in [0, 1].
        boxes: (M, 4) x0, y0, x1, y1 in pixels (M may be 0).
        rng: the random generator.
        config: ranges (defaults when None).

    Returns:
        ``(image, boxes)``: (H, W) float32 in [0, 1] and (M', 4) float32 boxes clipped to the
        image; boxes pushed mostly (over half their area) outside the image are dropped.
    """
    cfg = config or AugmentConfig()
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape
    angle = math.radians(rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg))
    zoom = rng.uniform(*cfg.zoom_range)
    flip_x = -1.0 if rng.random() < cfg.hflip_probability else 1.0
    flip_y = -1.0 if rng.random() < cfg.vflip_probability else 1.0
    shift = rng.uniform(-cfg.max_shift_frac, cfg.max_shift_frac, size=2) * np.array([w, h])
    c, s = math.cos(angle), math.sin(angle)
    # forward map (x, y) -> centre + A @ ((x, y) - centre) + shift
    A = zoom * np.array([[c, -s], [s, c]]) @ np.diag([flip_x, flip_y])
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    inv = np.linalg.inv(A)
    # ndimage works in (row, col): swap axes of the inverse map
    inv_rc = inv[::-1, ::-1]
    centre_rc = centre[::-1]
    offset = centre_rc - inv_rc @ (centre_rc + shift[::-1])
    out = ndimage.affine_transform(img, inv_rc, offset=offset, order=1, mode="constant", cval=0.0)
    out = (out - out.mean()) * rng.uniform(*cfg.contrast_range) + out.mean()
    out = np.clip(out + rng.uniform(-cfg.brightness, cfg.brightness), 0.0, 1.0).astype(np.float32)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if b.shape[0] == 0:
        return out, np.zeros((0, 4), np.float32)
    ctr = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)
    half = np.stack([(b[:, 2] - b[:, 0]) / 2, (b[:, 3] - b[:, 1]) / 2], axis=1)
    new_ctr = (ctr - centre) @ A.T + centre + shift
    # box of the rotated inscribed ellipse: half-extent_i = sqrt(sum_j (A_ij * half_j)^2)
    new_half = np.sqrt(((half[:, None, :] * A[None, :, :]) ** 2).sum(axis=2))
    nb = np.concatenate([new_ctr - new_half, new_ctr + new_half], axis=1)
    area = (nb[:, 2] - nb[:, 0]) * (nb[:, 3] - nb[:, 1])
    nb[:, [0, 2]] = nb[:, [0, 2]].clip(0, w)
    nb[:, [1, 3]] = nb[:, [1, 3]].clip(0, h)
    kept_area = (nb[:, 2] - nb[:, 0]).clip(0) * (nb[:, 3] - nb[:, 1]).clip(0)
    keep = kept_area > 0.5 * area
    return out, nb[keep].astype(np.float32)
