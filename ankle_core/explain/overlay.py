"""Heat-map overlays and box drawing for radiographs (numpy and Pillow only).

The colour map is Turbo (Mikhailov 2019, Google AI blog), from its published polynomial
approximation: perceptually smoother than jet, dark blue for 0 and dark red for 1.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from ankle_core.types import Box2D

__all__ = ["draw_boxes", "overlay_heatmap", "turbo"]

RGB = npt.NDArray[np.uint8]

_TURBO = np.array(
    [
        [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
        [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
        [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
    ]
)


def turbo(values: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Turbo colours of values in [0, 1] (clipped).

    Args:
        values: any shape (...).

    Returns:
        (..., 3) float32 RGB in [0, 1].

    The degree-5 polynomial fit ends a little brighter than Google's Turbo table at 1
    (0.57, 0.05, 0.0 against 0.48, 0.02, 0.01):

    >>> [[round(float(c), 2) for c in rgb] for rgb in turbo([0.0, 1.0])]
    [[0.14, 0.09, 0.11], [0.57, 0.05, 0.0]]
    """
    x = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    powers = np.stack([x**k for k in range(6)], axis=-1)
    rgb: npt.NDArray[np.float32] = np.clip(powers @ _TURBO.T, 0.0, 1.0).astype(np.float32)
    return rgb


def overlay_heatmap(
    image: npt.NDArray[np.floating], heat: npt.NDArray[np.floating], alpha: float = 0.4
) -> RGB:
    """Blend a [0, 1] heat map over a grey image.

    The heat map's opacity is ``alpha * heat``, so cold regions leave the radiograph as is.

    Args:
        image: (H, W) grey image in [0, 1].
        heat: (H, W) heat map in [0, 1].
        alpha: largest opacity of the heat map.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    img = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    h = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)
    if img.shape != h.shape or img.ndim != 2:
        raise ValueError(f"image {img.shape} and heat {h.shape} must be equal 2D shapes.")
    weight = (alpha * h)[..., None]
    # colours from a 256-entry table of turbo(): 1/255 steps of heat, invisible on a display,
    # at a tenth of the polynomial's cost per pixel (the viewer redraws on every slider step)
    colours = _turbo_table()[np.round(h * 255.0).astype(np.uint8)]
    out = (1.0 - weight) * img[..., None] + weight * colours
    return np.asarray(np.round(out * 255.0), dtype=np.uint8)


@functools.cache
def _turbo_table() -> npt.NDArray[np.float32]:
    """turbo() at 256 evenly spaced heat values, (256, 3) float32."""
    return turbo(np.linspace(0.0, 1.0, 256))


def draw_boxes(
    rgb: npt.NDArray[np.uint8],
    boxes: Sequence[Box2D],
    labels: Sequence[str] | None = None,
    colours: Sequence[tuple[int, int, int]] | None = None,
    *,
    width: int = 2,
    font_size: int | None = None,
) -> RGB:
    """Draw labelled rectangles on a copy of an RGB image.

    Args:
        rgb: (H, W, 3) uint8, or (H, W) uint8 grey (converted to RGB).
        boxes: boxes in pixels.
        labels: one text per box, drawn above it (None: no text).
        colours: one RGB colour per box (default: yellow).
        width: line width in pixels.
        font_size: label height in pixels, drawn in white on a tag of the box's colour (above
            the box, or inside it at the top edge); None: Pillow's small default font in the
            box's colour, without a tag.

    Returns:
        (H, W, 3) uint8 RGB, a new array.
    """
    arr = np.asarray(rgb, dtype=np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    image = Image.fromarray(arr.copy(), mode="RGB")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size) if font_size else None
    for i, box in enumerate(boxes):
        colour = colours[i] if colours is not None else (255, 221, 0)
        draw.rectangle([box.x0, box.y0, box.x1 - 1, box.y1 - 1], outline=colour, width=width)
        if labels is None or not labels[i]:
            continue
        if font is None:
            draw.text((box.x0, max(0.0, box.y0 - 12)), labels[i], fill=colour)
            continue
        left, top, right, bottom = draw.textbbox((0, 0), labels[i], font=font)
        pad = max(1, int(font_size or 0) // 6)
        tag_w, tag_h = right - left + 2 * pad, bottom - top + 2 * pad
        y = box.y0 - tag_h if box.y0 >= tag_h else box.y0
        x = min(box.x0, max(0.0, image.width - tag_w))
        draw.rectangle([x, y, x + tag_w - 1, y + tag_h - 1], fill=colour)
        draw.text((x + pad - left, y + pad - top), labels[i], fill=(255, 255, 255), font=font)
    return np.asarray(image, dtype=np.uint8)
