"""Explanations: Grad-CAM and HiResCAM (2D and 3D), Otsu boxes on heat maps, and overlays.

- ``gradcam``: :func:`grad_cam` (Captum ``LayerGradCam``, or ``LayerGradientXActivation``
  for HiResCAM; hook-free afterwards, thread-safe) and :func:`upsample_cam` (spline zoom to
  the image grid, normalised to [0, 1]).
- ``radiograph``: :func:`fragment_saliency` (each fragment's classifier Grad-CAM pasted back
  onto the whole radiograph) and :func:`detector_saliency` (Grad-CAM of one detector box).
- ``ct``: the Grad-CAM layer per 3D family, the map on the original CT grid,
  :func:`cam_regions` (ranked 3D boxes in voxels and patient mm) and :class:`CamSettings`
  (method, block and Otsu classes; :data:`STUDY_CAM` is the study's).
- ``boxes``: Otsu (1979) or multi-level Otsu threshold and connected regions of any map.
- ``overlay``: colour maps, heat-map blending and box drawing for display and reports.
"""

from ankle_core.explain.boxes import HeatRegion, find_regions, otsu_threshold
from ankle_core.explain.ct import (
    STUDY_CAM,
    CamRegion,
    CamSettings,
    cam_regions,
    cam_to_original,
    gradcam_layer,
)
from ankle_core.explain.gradcam import count_hooks, grad_cam, normalize01, upsample_cam
from ankle_core.explain.overlay import draw_boxes, overlay_heatmap
from ankle_core.explain.radiograph import detector_saliency, fragment_saliency

__all__ = [
    "STUDY_CAM",
    "CamRegion",
    "CamSettings",
    "HeatRegion",
    "cam_regions",
    "cam_to_original",
    "count_hooks",
    "detector_saliency",
    "draw_boxes",
    "find_regions",
    "fragment_saliency",
    "grad_cam",
    "gradcam_layer",
    "normalize01",
    "otsu_threshold",
    "overlay_heatmap",
    "upsample_cam",
]
