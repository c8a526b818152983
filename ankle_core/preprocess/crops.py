"""2D fragment crops with a context margin, and the classifier's channel modes.

The second stage of the radiograph pipeline sees each detected fragment with some of its
surroundings (the fibular tip, a donor defect): the box is enlarged by a context margin on
each side, made square, cut out (zero-padded beyond the image) and resized.

Channel modes (the network always receives 3 channels):

- ``"grey3"``: the grey crop replicated three times (fits ImageNet-initialised networks).
- ``"grey_inv_edge"``: grey, inverted grey, and an adaptive mean-threshold edge map
  (``skimage.filters.threshold_local``), the three-channel input of the wrist study.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from skimage.filters import threshold_local

from ankle_core.errors import InvalidInputError
from ankle_core.types import Box2D

__all__ = [
    "CHANNEL_MODES",
    "CropWindow",
    "TtaView",
    "context_window",
    "crop_with_context",
    "scaled_box",
    "to_channels",
    "tta_views",
]

FloatArray = npt.NDArray[np.float32]

#: Channel modes accepted by :func:`to_channels`.
CHANNEL_MODES: tuple[str, ...] = ("grey3", "grey_inv_edge")


@dataclass(frozen=True)
class TtaView:
    """One test-time-augmentation view of a fragment crop.

    Attributes:
        scale: the box is scaled by this about its centre before the crop (>1 shows more
            context, the fragment looks smaller).
        hflip: the crop is mirrored left-right.
    """

    scale: float = 1.0
    hflip: bool = False


def tta_views(spec: object) -> tuple[TtaView, ...]:
    """The views of a card's ``preprocessing.tta`` (``{"scales": [...], "hflip": bool}``).

    Every scale is taken plain and, when ``hflip`` is true, mirrored as well. A missing or
    empty spec gives the single plain view.

    >>> [(v.scale, v.hflip) for v in tta_views({"scales": [1.0, 1.25], "hflip": True})]
    [(1.0, False), (1.0, True), (1.25, False), (1.25, True)]
    """
    if not isinstance(spec, dict) or not spec.get("scales"):
        return (TtaView(),)
    scales = [float(v) for v in spec["scales"]]
    if any(v <= 0 for v in scales):
        raise InvalidInputError(f"TTA scales must be > 0, got {scales}.")
    flips = (False, True) if spec.get("hflip") else (False,)
    return tuple(TtaView(scale, flip) for scale in scales for flip in flips)


def scaled_box(box: Box2D, scale: float) -> Box2D:
    """``box`` scaled by ``scale`` about its centre (pixels).

    >>> scaled_box(Box2D(10, 10, 20, 30), 2.0)
    Box2D(x0=5.0, y0=0.0, x1=25.0, y1=40.0)
    """
    cx, cy = box.center
    hw, hh = box.width * scale / 2.0, box.height * scale / 2.0
    return Box2D(cx - hw, cy - hh, cx + hw, cy + hh)


@dataclass(frozen=True)
class CropWindow:
    """The square region of the radiograph a crop shows, in pixels (may exceed the image).

    ``x0, y0`` is the top-left corner, ``side`` the side length; the crop maps this window
    onto its own ``out_size`` grid.
    """

    x0: float
    y0: float
    side: float


def context_window(box: Box2D, margin: float = 0.5, *, square: bool = True) -> CropWindow:
    """The crop window around ``box``: enlarged by ``margin`` x its size on each side.

    Args:
        box: the fragment box in pixels.
        margin: context on each side as a fraction of the box's longer side (0.5 triples it).
        square: always True for now (the classifier input is square).

    Returns:
        A :class:`CropWindow` centred on the box.

    >>> context_window(Box2D(10, 10, 20, 20), 0.5)
    CropWindow(x0=5.0, y0=5.0, side=20.0)
    """
    if margin < 0:
        raise InvalidInputError(f"The context margin must be >= 0, got {margin}.")
    if not square:
        raise InvalidInputError("Only square context windows are supported.")
    cx, cy = box.center
    side = max(box.width, box.height) * (1.0 + 2.0 * margin)
    return CropWindow(x0=cx - side / 2.0, y0=cy - side / 2.0, side=side)


def crop_with_context(
    pixels: npt.NDArray[np.floating], box: Box2D, *, margin: float = 0.5, out_size: int = 96
) -> tuple[FloatArray, CropWindow]:
    """Cut out the context window around ``box`` and resize it to ``out_size`` squared.

    Pixels outside the image read as 0 (black, as beyond the collimation). The resampling is
    bilinear with an anti-aliasing Gaussian when shrinking.

    Args:
        pixels: (H, W) radiograph in [0, 1].
        box: fragment box in pixels.
        margin: context margin (see :func:`context_window`).
        out_size: crop side in pixels.

    Returns:
        ``(crop, window)``: (out_size, out_size) float32 in [0, 1] and the window it shows.
    """
    img = np.asarray(pixels, dtype=np.float32)
    if img.ndim != 2:
        raise InvalidInputError(f"Expected a 2D image, got shape {img.shape}.")
    window = context_window(box, margin)
    scale = window.side / out_size
    src = img
    if scale > 1.5:
        src = ndimage.gaussian_filter(img, sigma=0.5 * (scale - 1.0), mode="constant")
    # output pixel centre i maps to window.y0 + (i + 0.5) * scale - 0.5 in image coordinates
    grid = (np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5
    rows, cols = np.meshgrid(window.y0 + grid, window.x0 + grid, indexing="ij")
    crop = ndimage.map_coordinates(src, [rows, cols], order=1, mode="constant", cval=0.0)
    return np.clip(crop, 0.0, 1.0).astype(np.float32), window


def to_channels(crop: npt.NDArray[np.floating], mode: str = "grey3") -> FloatArray:
    """Make the classifier's 3-channel input from a grey crop.

    Args:
        crop: (S, S) float in [0, 1].
        mode: one of :data:`CHANNEL_MODES`.

    Returns:
        (3, S, S) float32 in [0, 1].

    >>> to_channels(np.zeros((8, 8)), "grey_inv_edge")[1].max()
    np.float32(1.0)
    """
    grey = np.asarray(crop, dtype=np.float32)
    if mode == "grey3":
        return np.stack([grey, grey, grey])
    if mode == "grey_inv_edge":
        block = max(3, (min(grey.shape) // 8) | 1)
        local = threshold_local(  # type: ignore[no-untyped-call]
            grey, block_size=block, method="mean", offset=-0.01
        )
        edge = (grey > local).astype(np.float32)
        return np.stack([grey, 1.0 - grey, edge])
    raise InvalidInputError(f"Unknown channel mode {mode!r}; choose one of {CHANNEL_MODES}.")
