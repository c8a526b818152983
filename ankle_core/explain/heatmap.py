"""Class-activation map of one peak of the fracture heat-map localiser (``centernet_mobilenet_v2``).

Taken on the stride-16 map ``c4`` (``features[13]``, 96 channels) of
:class:`~ankle_core.models.fracture_heatmap.FractureHeatmapNet`, for the heat-map logit at
one cell. The two methods of :mod:`ankle_core.explain.gradcam` (``method``), computed here
without hooks:

- ``"hirescam"`` (the default): HiResCAM (Draelos & Carin 2020), ``ReLU(sum_c dy/dA_c *
  A_c)`` cell by cell. It shows where the activations that raised this peak are. On the 33
  fractured FracAtlas validation images where ``fracatlas-leg-localiser`` 3.0.0 gives a box,
  the map's maximum for box 1 falls inside a true fracture box on 19 (0.58; Wilson 0.41-0.73);
  ``python benchmarks/leg_localiser_cam.py`` reproduces it.
- ``"gradcam"``: Grad-CAM (Selvaraju et al. 2017), ``ReLU(sum_c mean(dy/dA_c) * A_c)``.
  Averaging the gradient over the whole map makes it light every place where a channel with a
  positive weight fires, for this model mostly collimation edges and cortices far from the
  box: on the same images its maximum fell inside a true fracture box on none of the 33.

An ensemble that trains blocks 7-13 has one ``c4`` per member: each member's map (of the
members' mean heat map) is taken on its own ``c4`` and the maps are averaged. The gradient
comes from ``torch.autograd.grad`` on a tensor this function owns: no hook is registered and
the shared network's parameters are not touched, so a cached network can be explained from
several threads.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from ankle_core.explain.gradcam import CAM_METHODS, CamMethod
from ankle_core.models.fracture_heatmap import FractureHeatmapNet

__all__ = ["heatmap_gradcam"]

FloatArray = npt.NDArray[np.float32]


def heatmap_gradcam(
    net: FractureHeatmapNet,
    tensor: torch.Tensor,
    cell: tuple[int, int],
    valid_hw: tuple[int, int],
    out_hw: tuple[int, int],
    method: CamMethod = "hirescam",
) -> FloatArray:
    """Activation map of the heat-map logit at ``cell`` (row, column), on the radiograph's grid.

    Args:
        net: the heat-map network (eval mode).
        tensor: (1, 3, S, S) prepared input (see
            :func:`~ankle_core.models.fracture_heatmap.prepare_input`).
        cell: (row, column) of the heat-map peak to explain (stride-8 cells).
        valid_hw: (h, w) of the resized radiograph inside the padded input, pixels.
        out_hw: (H, W) of the radiograph, pixels.
        method: ``"hirescam"`` or ``"gradcam"``; see the module docstring.

    Returns:
        (H, W) float32 in [0, 1].

    Raises:
        ValueError: an unknown ``method``.
    """
    if method not in CAM_METHODS:
        raise ValueError(f"method must be one of {CAM_METHODS}, got {method!r}.")
    with torch.no_grad():
        c3, c4a = net.shared_maps(tensor)
        c4s = net.member_c4s(c3, c4a)
    leaves: dict[int, torch.Tensor] = {}  # one leaf per distinct map (a shared c4 once)
    for c4 in c4s:
        leaves.setdefault(id(c4), c4.detach().clone().requires_grad_(True))
    maps = list(leaves.values())
    with torch.enable_grad():
        heat = net.heads_from_c4s(c3, [leaves[id(c4)] for c4 in c4s])[0]
        grads = torch.autograd.grad(heat[0, 0, cell[0], cell[1]], maps)
    cams = [
        F.relu((_weights(g, method) * m.detach()).sum(dim=1, keepdim=True))
        for g, m in zip(grads, maps, strict=True)
    ]
    cam = torch.stack(cams).mean(dim=0)
    side = int(tensor.shape[-1])
    cam = F.interpolate(cam, size=(side, side), mode="bilinear", align_corners=False)
    cam = cam[:, :, : max(1, valid_hw[0]), : max(1, valid_hw[1])]
    cam = F.interpolate(cam, size=out_hw, mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    out = (cam / peak if peak > 0 else cam).detach().cpu().numpy().astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def _weights(grad: torch.Tensor, method: CamMethod) -> torch.Tensor:
    """Each activation's weight: its own gradient (HiResCAM) or its channel's mean (Grad-CAM)."""
    return grad if method == "hirescam" else grad.mean(dim=(2, 3), keepdim=True)
