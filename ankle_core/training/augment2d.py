"""2D augmentation for radiograph training: rotation, flips, crops, brightness and contrast.

One random affine map (rotation up to ``max_rotation_deg``, horizontal flip, zoom and
shift, i.e. a random crop) is applied to the image and to its boxes, then a random
brightness/contrast change. :func:`draw_augmentation` draws it once
(:class:`AugmentDraw`); :func:`augment_pixels` and :func:`augment_boxes` apply it, so the
boxes of a draw can be had without transforming the image. Boxes are carried through the
rotation as the box of their inscribed ellipse, which does not inflate them the way
rotating the corners does.
Every random draw comes from the ``np.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

__all__ = [
    "AugmentConfig",
    "AugmentDraw",
    "augment_boxes",
    "augment_image",
    "augment_pixels",
    "draw_augmentation",
]

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


@dataclass(frozen=True)
class AugmentDraw:
    """One random augmentation, drawn once and applied to an image and to its boxes.

    Attributes:
        shape: (H, W) of the image it was drawn for.
        matrix: 2x2 forward map (rotation, zoom, flips) about the image centre, (x, y).
        shift: (x, y) shift in pixels.
        contrast: multiplicative contrast about the mean.
        brightness: additive brightness change.
    """

    shape: tuple[int, int]
    matrix: npt.NDArray[np.float64]
    shift: npt.NDArray[np.float64]
    contrast: float
    brightness: float

    @property
    def centre(self) -> npt.NDArray[np.float64]:
        """(x, y) centre the map turns about."""
        h, w = self.shape
        return np.array([(w - 1) / 2.0, (h - 1) / 2.0])


def draw_augmentation(
    shape: tuple[int, int], rng: np.random.Generator, config: AugmentConfig | None = None
) -> AugmentDraw:
    """Draw one augmentation for an image of ``shape`` (the draws' order is fixed)."""
    cfg = config or AugmentConfig()
    h, w = shape
    angle = math.radians(rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg))
    zoom = rng.uniform(*cfg.zoom_range)
    flip_x = -1.0 if rng.random() < cfg.hflip_probability else 1.0
    flip_y = -1.0 if rng.random() < cfg.vflip_probability else 1.0
    shift = rng.uniform(-cfg.max_shift_frac, cfg.max_shift_frac, size=2) * np.array([w, h])
    c, s = math.cos(angle), math.sin(angle)
    # forward map (x, y) -> centre + A @ ((x, y) - centre) + shift
    matrix = zoom * np.array([[c, -s], [s, c]]) @ np.diag([flip_x, flip_y])
    contrast = float(rng.uniform(*cfg.contrast_range))
    brightness = float(rng.uniform(-cfg.brightness, cfg.brightness))
    return AugmentDraw((int(h), int(w)), matrix, shift, contrast, brightness)


def augment_pixels(image: npt.NDArray[np.floating], draw: AugmentDraw) -> FloatArray:
    """``draw`` applied to a grey (H, W) image in [0, 1]: (H, W) float32 in [0, 1]."""
    img = np.asarray(image, dtype=np.float32)
    if img.shape != draw.shape:
        raise ValueError(f"the draw is for a {draw.shape} image, got {img.shape}.")
    inv = np.linalg.inv(draw.matrix)
    # ndimage works in (row, col): swap axes of the inverse map
    inv_rc = inv[::-1, ::-1]
    centre_rc = draw.centre[::-1]
    offset = centre_rc - inv_rc @ (centre_rc + draw.shift[::-1])
    out = ndimage.affine_transform(img, inv_rc, offset=offset, order=1, mode="constant", cval=0.0)
    out = (out - out.mean()) * draw.contrast + out.mean()
    result: FloatArray = np.clip(out + draw.brightness, 0.0, 1.0).astype(np.float32)
    return result


def augment_boxes(boxes: npt.NDArray[np.floating], draw: AugmentDraw) -> FloatArray:
    """``draw`` applied to (M, 4) xyxy boxes: (M', 4) float32, clipped to the image.

    Each box becomes the box of its inscribed ellipse's image; boxes pushed mostly (over
    half their area) outside the image are dropped.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if b.shape[0] == 0:
        return np.zeros((0, 4), np.float32)
    h, w = draw.shape
    A, centre = draw.matrix, draw.centre
    ctr = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)
    half = np.stack([(b[:, 2] - b[:, 0]) / 2, (b[:, 3] - b[:, 1]) / 2], axis=1)
    new_ctr = (ctr - centre) @ A.T + centre + draw.shift
    # box of the rotated inscribed ellipse: half-extent_i = sqrt(sum_j (A_ij * half_j)^2)
    new_half = np.sqrt(((half[:, None, :] * A[None, :, :]) ** 2).sum(axis=2))
    nb = np.concatenate([new_ctr - new_half, new_ctr + new_half], axis=1)
    area = (nb[:, 2] - nb[:, 0]) * (nb[:, 3] - nb[:, 1])
    nb[:, [0, 2]] = nb[:, [0, 2]].clip(0, w)
    nb[:, [1, 3]] = nb[:, [1, 3]].clip(0, h)
    kept_area = (nb[:, 2] - nb[:, 0]).clip(0) * (nb[:, 3] - nb[:, 1]).clip(0)
    keep = kept_area > 0.5 * area
    kept: FloatArray = nb[keep].astype(np.float32)
    return kept


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
    img = np.asarray(image, dtype=np.float32)
    draw = draw_augmentation((img.shape[0], img.shape[1]), rng, config)
    return augment_pixels(img, draw), augment_boxes(boxes, draw)
