"""Grad-CAM of one box of a fracture localiser (:class:`ankle_core.inference.FractureLocaliser`).

- Heat-map localiser (``centernet_mobilenet_v2``): Grad-CAM (Selvaraju et al. 2017) of the
  box's peak logit on the heat map, taken on the stride-16 map ``c4`` (``features[13]``,
  96 channels). The gradient is taken with ``torch.autograd.grad`` on a tensor the function
  owns: no hook is registered and the shared network's parameters are not touched.
- RetinaNet localiser: :func:`ankle_core.explain.radiograph.detector_saliency` on the same
  box list.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from ankle_core.inference.localiser import FractureLocaliser
from ankle_core.models.fracture_heatmap import FractureHeatmapNet, decode_heatmap, prepare_input
from ankle_core.types import Radiograph

__all__ = ["localiser_saliency"]

FloatArray = npt.NDArray[np.float32]


def localiser_saliency(
    localiser: FractureLocaliser, radiograph: Radiograph, box_index: int
) -> FloatArray:
    """Grad-CAM for box ``box_index`` of ``localiser.run(radiograph).boxes``.

    Args:
        localiser: the localiser whose result is explained (its threshold and box limit).
        radiograph: the radiograph, (H, W) in [0, 1].
        box_index: which reported box (0 = highest score).

    Returns:
        (H, W) float32 in [0, 1], on the radiograph's grid.

    Raises:
        IndexError: no such box.
    """
    if not localiser.heatmap:
        from ankle_core.explain.radiograph import detector_saliency

        return detector_saliency(localiser.model, radiograph, box_index)
    net = localiser.model.network
    if not isinstance(net, FractureHeatmapNet):
        raise TypeError("The heat-map localiser's network is not a FractureHeatmapNet.")
    pixels = np.asarray(radiograph.pixels, np.float32)
    h, w = pixels.shape
    prep = prepare_input(pixels, localiser.side)
    device = localiser.model.device
    with torch.no_grad():
        c3, c4 = net.frozen_maps(prep.tensor.to(device))
    c4 = c4.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        heat, size, offset, _ = net.heads(c3, c4)
        det = decode_heatmap(heat[0].detach(), size[0].detach(), offset[0].detach(), top_k=20)
        kept = localiser.kept_indices(det.boxes / prep.scale, det.scores, (h, w))
        if not 0 <= box_index < len(kept):
            raise IndexError(f"box_index {box_index} out of range ({len(kept)} boxes).")
        row, col = (int(v) for v in det.cells[kept[box_index]])
        (grad,) = torch.autograd.grad(heat[0, 0, row, col], c4)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * c4.detach()).sum(dim=1, keepdim=True))
    side = localiser.side
    cam = F.interpolate(cam, size=(side, side), mode="bilinear", align_corners=False)
    nh, nw = round(h * prep.scale), round(w * prep.scale)
    cam = cam[:, :, : max(1, nh), : max(1, nw)]
    cam = F.interpolate(cam, size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    out = (cam / peak if peak > 0 else cam).cpu().numpy().astype(np.float32)
    return np.clip(out, 0.0, 1.0)
