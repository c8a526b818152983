"""From a :class:`~ankle_core.types.Volume` to a CT network's input, keeping the transform.

:class:`CtPreprocessing` is the recipe (it travels in a model card's ``preprocessing``);
:func:`preprocess_volume` applies it: RAS reorientation, isotropic resampling and crop/pad
(:mod:`ankle_core.preprocess.spatial`, one interpolation), then the HU window and
zero-centring (:mod:`ankle_core.preprocess.intensity`).

MONAI users: the result matches ``Orientation("RAS")``, ``Spacing(spacing_mm)``,
``ScaleIntensityRange(lo, hi, 0, 1, clip=True)`` minus ``mean``, then
``CropForeground`` + ``ResizeWithPadOrCrop(input_size)`` centred on the body, except that
here the interpolation happens once and the index map is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ankle_core.errors import InvalidInputError
from ankle_core.preprocess.intensity import STUDY_WINDOW, normalize_ct
from ankle_core.preprocess.spatial import plan_grid, resample_to_grid
from ankle_core.preprocess.transform import GridTransform
from ankle_core.types import Volume

__all__ = ["CtPreprocessing", "PreparedVolume", "preprocess_volume"]


@dataclass(frozen=True)
class CtPreprocessing:
    """How a CT volume is prepared for a network.

    Attributes:
        spacing_mm: isotropic model-grid spacing, mm (default 1.0).
        input_size: edge of the input cube, voxels (default 128).
        window: (low, high) HU clip window (default the study's -1000...400; see
            :data:`~ankle_core.preprocess.intensity.BONE_WINDOW`).
        mean: subtracted after scaling the window to [0, 1] (default 0.25), or ``"volume"``.
        foreground_threshold: HU above which voxels count as body, for centring the cube;
            None centres on the volume.
        order: spline order of the resampling (1 = linear).
        anti_alias: Gaussian smoothing before downsampling.
        pad_hu: value of voxels outside the scan (air).
    """

    spacing_mm: float = 1.0
    input_size: int = 128
    window: tuple[float, float] = STUDY_WINDOW
    mean: float | Literal["volume"] = 0.25
    foreground_threshold: float | None = -500.0
    order: int = 1
    anti_alias: bool = True
    pad_hu: float = -1000.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, for a model card's ``preprocessing``."""
        return {
            "kind": "ct",
            "spacing_mm": self.spacing_mm,
            "input_size": self.input_size,
            "window": list(self.window),
            "mean": self.mean,
            "foreground_threshold": self.foreground_threshold,
            "order": self.order,
            "anti_alias": self.anti_alias,
            "pad_hu": self.pad_hu,
            "normalisation": "(clip(hu, lo, hi) - lo) / (hi - lo) - mean",
            "orientation": "RAS (nibabel io_orientation), model array axes (z=S, y=A, x=R)",
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CtPreprocessing:
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        kwargs: dict[str, Any] = {}
        for key in ("spacing_mm", "pad_hu"):
            if key in data:
                kwargs[key] = float(data[key])
        if "input_size" in data:
            size = data["input_size"]
            kwargs["input_size"] = int(size[0] if isinstance(size, list | tuple) else size)
        if "window" in data:
            kwargs["window"] = (float(data["window"][0]), float(data["window"][1]))
        if "mean" in data:
            kwargs["mean"] = data["mean"] if data["mean"] == "volume" else float(data["mean"])
        if "foreground_threshold" in data:
            thr = data["foreground_threshold"]
            kwargs["foreground_threshold"] = None if thr is None else float(thr)
        if "order" in data:
            kwargs["order"] = int(data["order"])
        if "anti_alias" in data:
            kwargs["anti_alias"] = bool(data["anti_alias"])
        return cls(**kwargs)


@dataclass(frozen=True)
class PreparedVolume:
    """A network-ready CT cube and the way back to the original scan.

    Attributes:
        array: (D, H, W) float32 model input (add batch and channel axes for the network).
        transform: model-grid index <-> original index <-> patient mm.
    """

    array: npt.NDArray[np.float32]
    transform: GridTransform


def preprocess_volume(
    volume: Volume,
    config: CtPreprocessing | None = None,
    *,
    component: tuple[npt.NDArray[np.bool_], int] | None = None,
) -> PreparedVolume:
    """Prepare one CT volume for a network.

    Args:
        volume: the scan, (z, y, x) HU with its affine.
        config: the recipe (default :class:`CtPreprocessing()`: 1 mm, 128^3, -1000...400).
        component: the body's :func:`~ankle_core.preprocess.spatial.body_component` at the
            recipe's ``foreground_threshold``, when the caller already has it.

    Returns:
        The (D, H, W) float32 cube and its :class:`GridTransform`.

    Raises:
        InvalidInputError: the volume's affine has no usable orientation.
    """
    cfg = config or CtPreprocessing()
    if cfg.input_size < 8:
        raise InvalidInputError(f"The input cube must be at least 8 voxels, got {cfg.input_size}.")
    transform = plan_grid(
        volume.array,
        volume.affine,
        spacing_mm=cfg.spacing_mm,
        input_size=cfg.input_size,
        foreground_threshold=cfg.foreground_threshold,
        component=component,
    )
    hu = resample_to_grid(
        volume.array, transform, order=cfg.order, cval=cfg.pad_hu, anti_alias=cfg.anti_alias
    )
    return PreparedVolume(array=normalize_ct(hu, cfg.window, cfg.mean), transform=transform)
