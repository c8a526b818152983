"""Preprocessing: images in, network-ready arrays out, with the way back kept.

- ``crops``: radiograph crops with context around a box, and channel modes (radiograph
  pipeline).
- ``intensity``: HU windows (study -1000...400, bone) and zero-centring.
- ``spatial``: RAS reorientation, isotropic resampling, crop/pad around the body, planned
  as one index map and interpolated once.
- ``transform``: :class:`GridTransform`, model-grid index <-> original index <-> patient mm.
- ``volume``: :class:`CtPreprocessing` (the recipe a CT model card records) and
  :func:`preprocess_volume`.

This package knows nothing of models.
"""

from ankle_core.preprocess.crops import (
    CHANNEL_MODES,
    CropWindow,
    context_window,
    crop_with_context,
    to_channels,
)
from ankle_core.preprocess.intensity import BONE_WINDOW, STUDY_WINDOW, normalize_ct, window_hu
from ankle_core.preprocess.spatial import (
    foreground_bbox,
    orientation_matrix,
    plan_grid,
    resample_to_grid,
)
from ankle_core.preprocess.transform import GridTransform
from ankle_core.preprocess.volume import CtPreprocessing, PreparedVolume, preprocess_volume

__all__ = [
    "BONE_WINDOW",
    "CHANNEL_MODES",
    "STUDY_WINDOW",
    "CropWindow",
    "CtPreprocessing",
    "GridTransform",
    "PreparedVolume",
    "context_window",
    "crop_with_context",
    "foreground_bbox",
    "normalize_ct",
    "orientation_matrix",
    "plan_grid",
    "preprocess_volume",
    "resample_to_grid",
    "to_channels",
    "window_hu",
]
