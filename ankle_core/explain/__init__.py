"""Explanations: Grad-CAM (2D and 3D), Otsu boxes on heat maps, and overlays.

- ``gradcam``: :func:`grad_cam` (Captum ``LayerGradCam``, hook-free afterwards, thread-safe)
  and :func:`upsample_cam` (spline zoom to the image grid, normalised to [0, 1]).
"""

from ankle_core.explain.gradcam import count_hooks, grad_cam, normalize01, upsample_cam

__all__ = ["count_hooks", "grad_cam", "normalize01", "upsample_cam"]
