"""Explanations: Grad-CAM and HiResCAM (2D and 3D), Otsu boxes on heat maps, and overlays.

- ``gradcam``: :func:`grad_cam` (Captum ``LayerGradCam``, or ``LayerGradientXActivation``
  for HiResCAM; hook-free afterwards, thread-safe) and :func:`upsample_cam` (spline zoom to
  the image grid, normalised to [0, 1]).
- ``radiograph``: ``crop_saliency`` (each crop's classifier Grad-CAM pasted back onto the
  whole radiograph) and ``detector_saliency`` (Grad-CAM of one box of a loaded detector);
  import them from the submodule. Saliency of a pipeline's result lives with the pipeline
  (:class:`ankle_core.inference.radiograph.RadiographPipeline`): ``explain`` sits strictly
  below ``inference`` and imports nothing from it.
- ``ct``: the Grad-CAM layer per 3D family, the map on the original CT grid,
  :func:`cam_regions` (ranked 3D boxes in voxels and patient mm) and :class:`CamSettings`
  (method, block and box settings; :data:`PAPER_GRADCAM` is the reference paper's).
- ``ct_heat``: :class:`HeatVolume`, a CT heat map on the original grid evaluated only where
  it is read (a slice, a box), and :func:`heat_regions`, its boxes found on a ~1 mm sub-grid
  and refined on the full grid per region (torch-free).
- ``boxes``: Otsu (1979) or multi-level Otsu threshold and connected regions of any map, and
  :class:`BoxSettings`, the one place that says how CT boxes are drawn.
- ``overlay``: colour maps, heat-map blending and box drawing for display and reports.
- ``heatmap``: :func:`~ankle_core.explain.heatmap.heatmap_gradcam`, the hook-free Grad-CAM
  of one peak of the fracture heat-map localiser (import it from the submodule).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ankle_core.explain.boxes import BoxSettings, HeatRegion, find_regions, otsu_threshold
    from ankle_core.explain.ct import (
        PAPER_GRADCAM,
        CamRegion,
        CamSettings,
        cam_regions,
        cam_to_original,
        gradcam_layer,
    )
    from ankle_core.explain.ct_heat import HeatVolume, heat_regions
    from ankle_core.explain.gradcam import count_hooks, grad_cam, normalize01, upsample_cam
    from ankle_core.explain.overlay import draw_boxes, overlay_heatmap

#: Where each public name lives. Modules load on first use, so that drawing an overlay does
#: not import torch, Captum or MONAI.
_HOMES = {
    **dict.fromkeys(("BoxSettings", "HeatRegion", "find_regions", "otsu_threshold"), "boxes"),
    **dict.fromkeys(
        (
            "PAPER_GRADCAM",
            "CamRegion",
            "CamSettings",
            "cam_regions",
            "cam_to_original",
            "gradcam_layer",
        ),
        "ct",
    ),
    **dict.fromkeys(("HeatVolume", "heat_regions"), "ct_heat"),
    **dict.fromkeys(("count_hooks", "grad_cam", "normalize01", "upsample_cam"), "gradcam"),
    **dict.fromkeys(("draw_boxes", "overlay_heatmap"), "overlay"),
}

__all__ = [
    "PAPER_GRADCAM",
    "BoxSettings",
    "CamRegion",
    "CamSettings",
    "HeatRegion",
    "HeatVolume",
    "cam_regions",
    "cam_to_original",
    "count_hooks",
    "draw_boxes",
    "find_regions",
    "grad_cam",
    "gradcam_layer",
    "heat_regions",
    "normalize01",
    "otsu_threshold",
    "overlay_heatmap",
    "upsample_cam",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
