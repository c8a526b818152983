"""Drawings of a real case: its truth masks and boxes, a learner's click, a model's boxes.

Plain RGB arrays (PIL drawing), so the library, the quiz reveal and the PDF show the same
picture. Colours: truth green, the learner's click magenta, the model's boxes orange.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from ankle_core.explain.overlay import draw_boxes, overlay_heatmap
from ankle_core.teaching.real_cases import RealCase
from ankle_core.types import Box2D

__all__ = ["CLICK_COLOUR", "MODEL_COLOUR", "TRUTH_COLOUR", "draw_real_case"]

#: Colour of the truth masks and boxes (RGB).
TRUTH_COLOUR = (40, 200, 90)
#: Colour of the learner's click (RGB).
CLICK_COLOUR = (230, 40, 200)
#: Colour of the model's boxes (RGB).
MODEL_COLOUR = (255, 160, 0)


def draw_real_case(
    pixels: npt.NDArray[np.floating],
    case: RealCase,
    *,
    truth: bool = True,
    click: tuple[float, float] | None = None,
    model_boxes: Sequence[tuple[float, float, float, float]] = (),
    model_labels: Sequence[str] | None = None,
    saliency: npt.NDArray[np.floating] | None = None,
    mask_alpha: float = 0.35,
) -> npt.NDArray[np.uint8]:
    """The case's image with what is asked for drawn on it.

    Args:
        pixels: (H, W) grey image in [0, 1] (the case's radiograph).
        case: the real case (its fractures give the truth).
        truth: draw the truth masks (filled, ``mask_alpha``) and boxes.
        click: the learner's click ``(x, y)`` in pixels: a cross in a ring.
        model_boxes: the model's boxes ``(x0, y0, x1, y1)`` in pixels.
        model_labels: one label per model box (None: no text).
        saliency: (H, W) heat map in [0, 1] blended under everything else, or None.
        mask_alpha: opacity of the filled masks.

    Returns:
        (H, W, 3) uint8 RGB, a new array.
    """
    grey = np.clip(np.asarray(pixels, dtype=np.float32), 0.0, 1.0)
    if saliency is not None:
        rgb = overlay_heatmap(grey, np.asarray(saliency, dtype=np.float32), alpha=0.5)
    else:
        rgb = np.repeat(np.round(grey * 255.0).astype(np.uint8)[..., None], 3, axis=-1)
    h, w = grey.shape
    scale = max(h, w) / 450.0
    line = max(2, round(2 * scale))
    if truth and case.fractures:
        mask = Image.new("L", (w, h), 0)
        pen = ImageDraw.Draw(mask)
        for fracture in case.fractures:
            for poly in fracture.polygons:
                points = list(zip(poly[0::2], poly[1::2], strict=False))
                if len(points) >= 3:
                    pen.polygon(points, fill=255)
        m = (np.asarray(mask, dtype=np.float32) / 255.0 * mask_alpha)[..., None]
        tint = np.asarray(TRUTH_COLOUR, dtype=np.float32)
        rgb = np.round(rgb * (1.0 - m) + tint * m).astype(np.uint8)
        rgb = draw_boxes(
            rgb,
            [Box2D(*f.box) for f in case.fractures],
            ["truth"] * len(case.fractures),
            [TRUTH_COLOUR] * len(case.fractures),
            width=line,
        )
    if model_boxes:
        rgb = draw_boxes(
            rgb,
            [Box2D(*b) for b in model_boxes],
            None if model_labels is None else list(model_labels),
            [MODEL_COLOUR] * len(model_boxes),
            width=line,
        )
    if click is not None:
        image = Image.fromarray(rgb)
        pen = ImageDraw.Draw(image)
        x, y = click
        r = 9 * scale
        pen.ellipse((x - r, y - r, x + r, y + r), outline=CLICK_COLOUR, width=line)
        pen.line((x - 1.6 * r, y, x + 1.6 * r, y), fill=CLICK_COLOUR, width=line)
        pen.line((x, y - 1.6 * r, x, y + 1.6 * r), fill=CLICK_COLOUR, width=line)
        rgb = np.asarray(image, dtype=np.uint8).copy()
    return np.asarray(rgb, dtype=np.uint8)
