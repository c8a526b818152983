"""Grad-CAM explanations of radiograph networks, in full-radiograph coordinates.

This module sits below :mod:`ankle_core.inference`: it takes networks, loaded models and
plain crop windows, never a pipeline. The pipeline's own saliency
(:meth:`ankle_core.inference.radiograph.RadiographPipeline.fragment_saliency` and
``.detector_saliency``) calls these functions.

- :func:`crop_saliency`: a 2D classifier's Grad-CAM (Captum ``LayerGradCam`` on the last
  convolutional block) of every crop, for the class the classifier favours for that crop
  (for the LMAF classifier: the LMAF logit when p_lmaf >= 0.5, else the SFO logit: the
  evidence for its call), upsampled to the crop's window and pasted back into the
  radiograph; overlapping windows combine by maximum. The last block has stride 32, so a
  128 px crop gives a 4 x 4 map: coarse by construction.
- :func:`detector_saliency`: Grad-CAM of a loaded detector for one box. The target is a callable
  returning that box's class score: the raw classification logit of the anchor that produced
  the box (the anchor whose regression, decoded, became the box before NMS). The explained
  layer is the FPN output block of the box's pyramid level (P3, P4 or P5; boxes from P6/P7,
  which are computed from P5, use P5).

Both use :func:`ankle_core.explain.gradcam.grad_cam`, which removes its hooks in ``finally``.
Grad-CAM hooks fire on *every* forward pass through the hooked layer, including another
thread's plain inference on the same cached model, which would corrupt both. So each
explanation runs on a private copy of the network (``copy.deepcopy``, a few ms): the shared
model never carries a hook, and a cached pipeline can run and be explained from several
threads at once.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from ankle_core.explain.gradcam import grad_cam, model_lock, upsample_cam
from ankle_core.models.classifier2d import cam_layer
from ankle_core.models.detector import DetectorCore, decode_detections, prepare_detector_input
from ankle_core.models.weights import LoadedModel
from ankle_core.preprocess.crops import CropWindow
from ankle_core.types import Radiograph

__all__ = ["crop_saliency", "detector_saliency"]

FloatArray = npt.NDArray[np.float32]


def _private_copy(module: nn.Module) -> nn.Module:
    """A deep copy of a shared module, in eval mode, for hook-based explanations."""
    with model_lock(module):
        clone = copy.deepcopy(module)
    return clone.eval()


def _paste_max(canvas: FloatArray, patch: FloatArray, x0: int, y0: int) -> None:
    """Max-combine ``patch`` into ``canvas`` with its top-left at (x0, y0), clipped."""
    h, w = canvas.shape
    ph, pw = patch.shape
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(w, x0 + pw), min(h, y0 + ph)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    region = patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    np.maximum(canvas[cy0:cy1, cx0:cx1], region, out=canvas[cy0:cy1, cx0:cx1])


def crop_saliency(
    network: nn.Module,
    x: torch.Tensor,
    windows: Sequence[CropWindow],
    shape: tuple[int, int],
) -> FloatArray:
    """Every crop's classifier Grad-CAM, pasted into a radiograph-sized canvas.

    Args:
        network: a 2D classifier from :mod:`ankle_core.models.classifier2d` (a private copy
            is explained; the shared one never carries a hook).
        x: (N, C, S, S) the classifier's inputs, on the network's device.
        windows: the N crops' windows in the radiograph.
        shape: (H, W) of the radiograph, pixels.

    Returns:
        (H, W) float32 in [0, 1]; all zeros when there is no crop. Each crop's map is
        normalised to [0, 1] within its own window.
    """
    canvas = np.zeros(shape, np.float32)
    if not windows:
        return canvas
    clone = _private_copy(network)
    with torch.no_grad():
        favoured = clone(x).argmax(dim=1)
    layer = cam_layer(clone)
    for i, window in enumerate(windows):
        # one call per crop: the target class differs between crops
        cam = grad_cam(clone, x[i : i + 1], layer, target=int(favoured[i]))[0]
        side = max(1, round(window.side))
        patch = upsample_cam(cam.numpy(), (side, side))
        _paste_max(canvas, patch, round(window.x0), round(window.y0))
    return canvas


def detector_saliency(
    detector: LoadedModel,
    radiograph: Radiograph,
    box_index: int,
    *,
    threshold: float | None = None,
    max_boxes: int | None = None,
    merge_iou: float = 1.0,
) -> FloatArray:
    """Grad-CAM of a loaded detector for one reported box.

    Args:
        detector: a loaded RetinaNet detector.
        radiograph: the radiograph, (H, W).
        box_index: which box (0 = highest detection score) among those kept by
            :meth:`~ankle_core.models.detector.FragmentDetections.kept`.
        threshold: lowest detection score kept; default: the card's default operating point.
        max_boxes: most boxes kept (None: all).
        merge_iou: overlapping boxes fuse at this IoU, as the pipeline keeps them.

    Returns:
        (H, W) float32 in [0, 1].

    Raises:
        IndexError: no such box.
    """
    if threshold is None:
        threshold = detector.card.operating_points.default
    retinanet = _private_copy(detector.network)
    core = DetectorCore(retinanet).eval()  # type: ignore[arg-type]
    prepared = prepare_detector_input(radiograph.pixels, retinanet, device=detector.device)  # type: ignore[arg-type]
    with torch.no_grad():
        outputs = core(prepared.tensor)
    detections = decode_detections(outputs, retinanet, prepared)  # type: ignore[arg-type]
    kept = detections.kept(threshold, max_boxes, merge_iou)
    if not 0 <= box_index < len(kept):
        raise IndexError(f"box_index {box_index} out of range ({len(kept)} boxes).")
    level, channel, row, col = (int(v) for v in detections.anchor_refs[kept[box_index]])

    def box_score(out: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return out[level][:, channel, row, col]

    fpn = core.backbone.fpn
    layer: nn.Module = fpn.layer_blocks[min(level, len(fpn.layer_blocks) - 1)]
    cam = grad_cam(core, prepared.tensor, layer, target=box_score)[0].numpy()
    side = prepared.tensor.shape[-1]
    full = upsample_cam(cam, (side, side))
    rh, rw = prepared.resized_hw
    resized = full[:rh, :rw]
    h, w = radiograph.shape
    return upsample_cam(resized, (h, w), order=1)
