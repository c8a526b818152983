"""Image statistics for the domain gate: cues computed on the pixels alone, no network.

The synthetic radiograph phantoms (:mod:`ankle_core.phantoms.radiograph`) add white,
pixel-independent noise after blurring the anatomy, so in their flattest regions the
finest-scale detail is noise of a known kind: about as strong between neighbouring pixels as
between neighbouring 2 x 2 blocks, and never absent. Real radiographs differ there: their
noise is correlated between neighbouring pixels (detector blur, processing, lossy
compression), and 8-bit exports of them are often exactly flat in the background.

:func:`flat_noise` measures this with a two-level Haar decomposition:

1. ``HH1``: the diagonal Haar detail of the pixels, ``(a - b - c + d) / 2`` on each 2 x 2
   block; ``LL1``: the block means.
2. ``HH2``: the same detail of ``LL1``, doubled, so that white noise of standard deviation
   ``s`` gives coefficients of standard deviation ``s`` at both scales.
3. The image is cut into tiles of 32 x 32 pixels (16 x 16 ``HH1`` and 8 x 8 ``HH2``
   coefficients); the **flattest quarter** are the tiles whose mean ``|HH2|`` is at or below
   its 25th percentile (structure shows at the coarser scale, noise at both).
4. ``level``: the mean ``|HH1|`` over those tiles times ``sqrt(pi / 2)`` (the standard
   deviation of Gaussian noise, image units); ``whiteness``: the sum of ``|HH1|`` over the
   sum of ``|HH2|`` there: about 1 for white noise (1.1 to 1.2 for pure noise, as choosing
   the tiles by their ``|HH2|`` biases it up a little; 0.95 to 1.1 for the phantoms), well
   below 1 for noise correlated between neighbouring pixels (about 0.75 after a Gaussian
   blur of 0.5 pixel, 0.26 after 1 pixel), 0 when the flat regions carry no noise at all.

A card's ``domain.image_cues`` lists statistics by name (:data:`IMAGE_STATISTICS`), each with
the in-domain range ``[low, high]`` measured on the training images (:class:`ImageCue`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "IMAGE_STATISTICS",
    "FlatNoise",
    "ImageCue",
    "flat_noise",
    "image_statistic",
]

#: Tile side, in pixels, of :func:`flat_noise`.
TILE_PX = 32
#: Fraction of tiles, the flattest, that :func:`flat_noise` measures.
FLAT_FRACTION = 0.25


@dataclass(frozen=True)
class FlatNoise:
    """The fine-scale noise of an image's flattest regions (:func:`flat_noise`).

    Attributes:
        level: noise standard deviation at the finest scale, image units (pixels in [0, 1]).
        whiteness: finest-scale over next-scale detail: about 1 for white noise, well below 1
            for correlated noise, 0 without any noise.
    """

    level: float
    whiteness: float


def _haar_hh(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    x = x[:h, :w]
    a, b, c, d = x[0::2, 0::2], x[0::2, 1::2], x[1::2, 0::2], x[1::2, 1::2]
    return (a - b - c + d) / 2.0, (a + b + c + d) / 4.0


def flat_noise(pixels: npt.ArrayLike) -> FlatNoise:
    """Noise level and whiteness in the flattest quarter of an image (module docstring).

    Args:
        pixels: (H, W) grey image in [0, 1], at its own resolution (not resized).

    Returns:
        The :class:`FlatNoise`; both 0 for an image smaller than one 32 x 32 tile.

    >>> noise = np.random.default_rng(0).normal(0.5, 0.02, (256, 256))
    >>> f = flat_noise(noise)
    >>> round(f.level, 2), 1.0 < f.whiteness < 1.25
    (0.02, True)
    >>> flat_noise(np.full((64, 64), 0.5))
    FlatNoise(level=0.0, whiteness=0.0)
    """
    p = np.asarray(pixels, np.float64)
    if p.ndim != 2:
        raise ValueError(f"expected a (H, W) image, got shape {p.shape}")
    hh1, ll1 = _haar_hh(p)
    hh2, _ = _haar_hh(ll1)
    a1, a2 = np.abs(hh1), 2.0 * np.abs(hh2)
    t = TILE_PX // 4  # HH2 coefficients per tile side
    rows, cols = a2.shape[0] // t, a2.shape[1] // t
    if rows == 0 or cols == 0:
        return FlatNoise(0.0, 0.0)
    tiles2 = a2[: rows * t, : cols * t].reshape(rows, t, cols, t).mean(axis=(1, 3))
    tiles1 = a1[: rows * 2 * t, : cols * 2 * t].reshape(rows, 2 * t, cols, 2 * t).mean(axis=(1, 3))
    flat = tiles2 <= np.quantile(tiles2, FLAT_FRACTION)
    fine, coarse = float(tiles1[flat].sum()), float(tiles2[flat].sum())
    level = float(tiles1[flat].mean()) * math.sqrt(math.pi / 2.0)
    return FlatNoise(level=level, whiteness=fine / coarse if coarse > 0 else 0.0)


def _level(pixels: npt.ArrayLike) -> float:
    return flat_noise(pixels).level


def _whiteness(pixels: npt.ArrayLike) -> float:
    return flat_noise(pixels).whiteness


#: The statistics a card's ``image_cues`` may name, with what each measures in words.
IMAGE_STATISTICS: Mapping[str, tuple[Callable[[npt.ArrayLike], float], str]] = {
    "flat-noise-level": (_level, "noise level in flat regions"),
    "flat-noise-whiteness": (_whiteness, "noise whiteness in flat regions"),
}


def image_statistic(name: str, pixels: npt.ArrayLike) -> float:
    """The statistic ``name`` of :data:`IMAGE_STATISTICS` on one (H, W) image.

    Raises:
        KeyError: unknown name.
    """
    return float(IMAGE_STATISTICS[name][0](pixels))


@dataclass(frozen=True)
class ImageCue:
    """One image statistic and its in-domain range, from a card's ``domain.image_cues``.

    Attributes:
        statistic: a name of :data:`IMAGE_STATISTICS`.
        low: smallest value still in domain.
        high: largest value still in domain.
        chosen_on: how the range was chosen (the training images it came from).
    """

    statistic: str
    low: float
    high: float
    chosen_on: str = ""

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> ImageCue:
        """Parse one ``image_cues`` entry.

        Raises:
            ValueError: unknown statistic, or ``low`` above ``high``.
            KeyError: a key is missing.
        """
        name = str(entry["statistic"])
        if name not in IMAGE_STATISTICS:
            raise ValueError(
                f"unknown image statistic {name!r}; known: {', '.join(sorted(IMAGE_STATISTICS))}"
            )
        low, high = float(entry["low"]), float(entry["high"])
        if not low <= high:
            raise ValueError(f"image cue {name}: low {low} is above high {high}")
        return cls(name, low, high, str(entry.get("chosen_on", "")))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "statistic": self.statistic,
            "low": round(self.low, 5),
            "high": round(self.high, 5),
            "chosen_on": self.chosen_on,
        }

    @property
    def words(self) -> str:
        """What the statistic measures, in words."""
        return IMAGE_STATISTICS[self.statistic][1]

    def contains(self, value: float) -> bool:
        """True when ``value`` lies in ``[low, high]`` (NaN never does)."""
        return math.isfinite(value) and self.low <= value <= self.high
