"""Burn a radiograph result into an RGB image: saliency, boxes, calls and a warning banner.

This picture is what the Secondary Capture carries. It is for orientation only: the text
"NOT FOR DIAGNOSTIC USE" is burned into the top of every image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from ankle_core.export.series import NOT_FOR_DIAGNOSTIC_USE
from ankle_core.types import Radiograph

if TYPE_CHECKING:
    from ankle_core.inference.radiograph import RadiographResult

__all__ = ["CALL_COLOURS", "render_overlay"]

#: RGB colour of each call's box and label.
CALL_COLOURS: dict[str, tuple[int, int, int]] = {
    "LMAF": (230, 40, 40),
    "SFO": (40, 160, 255),
}
_OTHER_COLOUR = (255, 200, 0)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError, TypeError):  # Pillow without FreeType
        return ImageFont.load_default()


def render_overlay(
    radiograph: Radiograph,
    result: RadiographResult,
    saliency: npt.NDArray[np.float32] | None = None,
    *,
    alpha: float = 0.4,
) -> npt.NDArray[np.uint8]:
    """Draw the result on the radiograph.

    Args:
        radiograph: the analysed radiograph (pixels (H, W) in [0, 1], bone bright).
        result: the pipeline's result (boxes in the radiograph's pixels).
        saliency: optional (H, W) map in [0, 1] (e.g. the fragments' Grad-CAM), blended in
            with :func:`~ankle_core.explain.overlay.overlay_heatmap` (turbo colours).
        alpha: largest blending weight of the saliency.

    Returns:
        (H, W, 3) uint8 RGB image of the same size as the radiograph.
    """
    if saliency is not None:
        from ankle_core.explain.overlay import overlay_heatmap  # lazy: explain imports torch

        rgb = overlay_heatmap(radiograph.pixels, saliency, alpha=alpha)
    else:
        grey = np.round(np.asarray(radiograph.pixels, dtype=np.float32) * 255.0).astype(np.uint8)
        rgb = np.repeat(grey[..., None], 3, axis=2)
    image = Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")
    draw = ImageDraw.Draw(image)
    height, width = radiograph.shape
    scale = max(1, min(height, width) // 256)
    font = _font(10 * scale)
    for index, fragment in enumerate(result.fragments, start=1):
        colour = CALL_COLOURS.get(fragment.call, _OTHER_COLOUR)
        draw.rectangle(fragment.box.as_xyxy(), outline=colour, width=scale)
        label = f"{index} {fragment.call} p={fragment.p_lmaf:.2f}".replace("—", "-")
        draw.text(
            (fragment.box.x0, max(0.0, fragment.box.y0 - 12 * scale)), label, fill=colour, font=font
        )
    banner = f"{NOT_FOR_DIAGNOSTIC_USE} - {result.case_call}".replace("—", "-")
    draw.rectangle((0, 0, width, 14 * scale), fill=(0, 0, 0))
    draw.text((2 * scale, 2 * scale), banner, fill=(255, 255, 0), font=font)
    return np.asarray(image, dtype=np.uint8).copy()
