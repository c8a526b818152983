"""CT intensity normalisation: HU windows and zero-centring.

The CT study clipped Hounsfield units to -1000...400 and zero-centred the data. The exact
normalisation used here (the classic recipe that range comes from) is::

    x = (clip(hu, lo, hi) - lo) / (hi - lo)      # [0, 1]
    x = x - mean                                 # zero-centred, mean = 0.25 by default

so with the study window air (-1000 HU) becomes -0.25, water (0 HU) about 0.46, and
anything at or above 400 HU (cortical and most cancellous bone) 0.75. ``mean`` is a fixed
number, not the volume's own mean, so one scan's normalisation never depends on its field of
view; ``mean="volume"`` subtracts the volume's own mean instead.

A bone window (level 400, width 1800: -500...1300 HU) keeps the contrast inside bone, where
the study window saturates.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["BONE_WINDOW", "STUDY_WINDOW", "normalize_ct", "window_hu", "zero_centre"]

F32 = npt.NDArray[np.float32]

#: The CT study's window, HU.
STUDY_WINDOW: tuple[float, float] = (-1000.0, 400.0)
#: A bone window (level 400 HU, width 1800 HU).
BONE_WINDOW: tuple[float, float] = (-500.0, 1300.0)


def window_hu(array: npt.ArrayLike, window: tuple[float, float] = STUDY_WINDOW) -> F32:
    """Clip HU to ``window`` and scale it to [0, 1], in float32.

    Args:
        array: HU values, any shape.
        window: (low, high) HU.

    Returns:
        float32 array of the same shape in [0, 1] (a new array; a float32 input is not
        modified).

    >>> window_hu([-2000.0, -300.0, 1000.0]).tolist()
    [0.0, 0.5, 1.0]
    """
    lo, hi = float(window[0]), float(window[1])
    if not hi > lo:
        raise ValueError(f"A window needs high > low, got {window}.")
    out = np.array(array, dtype=np.float32, copy=True)
    np.clip(out, lo, hi, out=out)
    out -= lo
    out /= hi - lo
    return out


def zero_centre(array: F32, mean: float | Literal["volume"] = 0.25) -> F32:
    """Subtract ``mean`` (or the array's own mean with ``"volume"``) in place; returns it."""
    centre = float(array.mean()) if mean == "volume" else float(mean)
    array -= np.float32(centre)
    return array


def normalize_ct(
    array: npt.ArrayLike,
    window: tuple[float, float] = STUDY_WINDOW,
    mean: float | Literal["volume"] = 0.25,
) -> F32:
    """Window then zero-centre HU, the CT study's normalisation.

    Args:
        array: HU values, any shape.
        window: (low, high) HU; :data:`STUDY_WINDOW` or :data:`BONE_WINDOW`.
        mean: subtracted after scaling to [0, 1]; ``"volume"`` uses the array's mean.

    Returns:
        float32 array in ``[-mean, 1 - mean]``.

    >>> normalize_ct([-1000.0, 400.0]).tolist()
    [-0.25, 0.75]
    """
    return zero_centre(window_hu(array, window), mean)
