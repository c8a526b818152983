"""A labelled montage of phantom radiographs (for ``docs/phantom_montage.png``).

The top row shows whole LMAF, SFO and fragment-free cases with their ground-truth boxes; the
bottom row zooms on the fibular tip of the same cases, where the signs are: the LMAF's
angular, uncorticated fragment beside its donor notch, the SFO's corticated rim below an
intact tip. ``python -m ankle_core.phantoms montage --out docs/phantom_montage.png``
rebuilds it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ankle_core.phantoms.radiograph import (
    make_case,
    pixel_window,
    sample_radiograph_params,
    tip_ellipse,
)

__all__ = ["MONTAGE_CASES", "make_montage"]

# (seed, kind): clear, unblended examples at difficulty 0.3 (the demo set's seeds).
MONTAGE_CASES: tuple[tuple[int, str], ...] = ((5, "lmaf"), (2, "sfo"), (11, "none"))
_RED = (230, 40, 40)
_YELLOW = (255, 220, 0)


def _zoom_window(seed: int, kind: str, size: int, difficulty: float) -> tuple[slice, slice]:
    """A square window on the fibular tip and the fragment below it."""
    params = sample_radiograph_params(seed, kind, size=size, difficulty=difficulty)
    (tcx, tcy), (_, tb) = tip_ellipse(params)
    cx, cy = tcx, tcy + tb
    if params.fragment is not None:
        cx, cy = (cx + params.fragment.center[0]) / 2.0, (cy + params.fragment.center[1]) / 2.0
    rows, cols = pixel_window(params, (cx, cy), 12.0)
    side = min(rows.stop - rows.start, cols.stop - cols.start)
    return slice(rows.start, rows.start + side), slice(cols.start, cols.start + side)


def make_montage(out: Path, *, size: int = 512, tile: int = 256, difficulty: float = 0.3) -> Path:
    """Draw the montage and save it as an optimised palette PNG.

    Args:
        out: PNG path to write.
        size: side of each rendered case, pixels.
        tile: side of each montage tile, pixels.
        difficulty: phantom difficulty of the shown cases.

    Returns:
        ``out``.
    """
    n = len(MONTAGE_CASES)
    canvas = Image.new("RGB", (n * tile, 2 * tile), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, (seed, kind) in enumerate(MONTAGE_CASES):
        case = make_case(seed, kind, size=size, difficulty=difficulty)
        grey = (case.radiograph.pixels * 255).round().astype(np.uint8)
        full = Image.fromarray(grey).resize((tile, tile), Image.Resampling.LANCZOS)
        canvas.paste(full.convert("RGB"), (i * tile, 0))
        f = tile / size
        for box in case.boxes:
            draw.rectangle(
                [
                    i * tile + box.x0 * f - 3,
                    box.y0 * f - 3,
                    i * tile + box.x1 * f + 2,
                    box.y1 * f + 2,
                ],
                outline=_RED,
            )
        rows, cols = _zoom_window(seed, kind, size, difficulty)
        crop = Image.fromarray(grey[rows, cols]).resize((tile, tile), Image.Resampling.BICUBIC)
        canvas.paste(crop.convert("RGB"), (i * tile, tile))
        zf = tile / (cols.stop - cols.start)
        for box in case.boxes:
            x0 = i * tile + (box.x0 - cols.start) * zf
            y0 = tile + (box.y0 - rows.start) * zf
            x1 = i * tile + (box.x1 - cols.start) * zf
            y1 = tile + (box.y1 - rows.start) * zf
            draw.rectangle([x0 - 2, y0 - 2, x1 + 1, y1 + 1], outline=_RED, width=2)
        label = {"lmaf": "LMAF (avulsion)", "sfo": "SFO (ossicle)", "none": "no fragment"}[kind]
        draw.text(
            (i * tile + 6, 5), f"{label}, {case.view} {case.params['laterality']}", fill=_YELLOW
        )
        draw.text((i * tile + 6, tile + 5), "fibular tip, zoomed", fill=_YELLOW)
    draw.text((6, 2 * tile - 14), "synthetic phantoms, not patients", fill=_YELLOW)
    canvas.quantize(colors=128, dither=Image.Dither.NONE).save(out, optimize=True)
    return out
