"""3D Grad-CAM for the CT networks, carried back to the original scan, and its boxes.

The reference paper's four localisation steps, on the original volume's grid:

1. **Grad-CAM** (:func:`ankle_core.explain.gradcam.grad_cam`, Captum ``LayerGradCam`` under
   the per-model lock; no hook outlives a call) on the block :func:`gradcam_layer` picks:
   the deepest block whose map still has at least ``min_cells`` (default 8) cells per axis
   at the model's input size. A 64^3 input gives: MobileNet ``features.3`` (stride 8,
   8^3), MONAI ResNet ``layer3`` (stride 8, MONAI keeps the stem at stride 1), EfficientNet
   ``_blocks.2`` (stride 8); at 128^3: MobileNet ``features.5`` (stride 16, 8^3), ResNet
   ``layer4`` (stride 16), EfficientNet ``_blocks.4`` (the last stride-16 stage). The last
   block of EfficientNet-B0 at 64^3 would be a degenerate 2^3 map. The target is the
   fracture log-odds (logit 1 minus logit 0; logit 0 alone for one-logit networks).
2. **Spline upsampling to the original grid** (:func:`cam_to_original`): each original voxel
   inside the model's field of view is mapped through the kept
   :class:`~ankle_core.preprocess.transform.GridTransform` to a fractional CAM index, where
   the CAM is evaluated with a spline of configurable order (``scipy.ndimage.affine_transform``
   , order 3 by default; CAM cells are centred on their receptive blocks, as
   ``scipy.ndimage.zoom(grid_mode=True)`` would do). This is the reference paper's "spline
   zoom to the scan's size", with the reorientation, resampling and crop undone exactly. Negative
   values are clipped and the map is scaled to [0, 1]; voxels the model never saw are 0.
3. **Otsu threshold and connected components** (:func:`ankle_core.explain.boxes.find_regions`)
   inside the field of view.
4. **Boxes with coordinates** (:class:`CamRegion`): voxel box, patient-mm box and centres,
   size in mm, peak and mean activation, ranked.

:class:`CamSettings` names the three choices behind a map and its boxes: the CAM method
(Grad-CAM as the reference paper, or HiResCAM), the smallest map edge that picks the block, and how
the boxes are drawn (:class:`~ankle_core.explain.boxes.BoxSettings`). :data:`PAPER_GRADCAM` is
the reference paper's method; a model card may recommend
other settings in its ``explanation`` entry (the demo CT model does, with the measured
localisation of both in its card).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from scipy import ndimage
from torch import nn

from ankle_core.explain.boxes import BoxSettings, HeatRegion
from ankle_core.explain.ct_heat import cam_index_map, spline_weights
from ankle_core.explain.gradcam import CAM_METHODS, CamMethod, grad_cam
from ankle_core.models.cnn3d import feature_stages
from ankle_core.preprocess.transform import GridTransform
from ankle_core.types import Box3D, voxel_to_ras

__all__ = [
    "PAPER_GRADCAM",
    "CamRegion",
    "CamSettings",
    "cam_regions",
    "cam_to_original",
    "ct_grad_cam",
    "fracture_log_odds",
    "gradcam_layer",
    "to_cam_regions",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CamSettings:
    """How a CT heat map and its boxes are made.

    Attributes:
        method: ``"gradcam"`` (the reference paper's) or ``"hirescam"`` (see
            :mod:`ankle_core.explain.gradcam`).
        min_cells: the explained block is the deepest whose map keeps this many cells per
            axis at the model's input size (:func:`gradcam_layer`).
        boxes: how the boxes are drawn on the map
            (:class:`~ankle_core.explain.boxes.BoxSettings`: body mask, threshold, Otsu
            classes, minimum volume, ranking, most boxes).
    """

    method: CamMethod = "gradcam"
    min_cells: int = 8
    boxes: BoxSettings = field(default_factory=BoxSettings)

    def __post_init__(self) -> None:
        if self.method not in CAM_METHODS:
            raise ValueError(f"CAM method must be one of {CAM_METHODS}, got {self.method!r}.")
        if self.min_cells < 1:
            raise ValueError(f"min_cells must be at least 1, got {self.min_cells}.")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CamSettings:
        """Settings from a card's ``explanation`` entry (the one parser of that entry).

        ``method`` and ``min_cells`` are the CAM's; every other key is a
        :class:`~ankle_core.explain.boxes.BoxSettings` field. Missing keys take the
        reference paper's values.

        >>> s = CamSettings.from_dict({"method": "hirescam", "otsu_classes": 3})
        >>> s.min_cells, s.boxes.otsu_classes
        (8, 3)
        """
        data = dict(data or {})
        cam_keys = {"method", "min_cells"}
        unknown = set(data) - cam_keys - BoxSettings.keys()
        if unknown:
            raise ValueError(f"Unknown explanation settings: {sorted(unknown)}.")
        return cls(
            method=data.get("method", "gradcam"),
            min_cells=int(data.get("min_cells", 8)),
            boxes=BoxSettings.from_dict({k: v for k, v in data.items() if k not in cam_keys}),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the card's ``explanation`` entry)."""
        return {"method": self.method, "min_cells": self.min_cells, **self.boxes.to_dict()}

    @property
    def label(self) -> str:
        """Plain words, e.g. ``"HiResCAM, 3-class Otsu"``."""
        name = {"gradcam": "Grad-CAM", "hirescam": "HiResCAM"}[self.method]
        return f"{name}, {self.boxes.label}"


#: The reference paper's method: Grad-CAM on a block with at least 8 cells per axis, Otsu.
PAPER_GRADCAM = CamSettings()


@dataclass(frozen=True)
class CamRegion:
    """One ranked Grad-CAM region on the original volume.

    Attributes:
        rank: 0 for the top region.
        box_voxels: box on the original grid, (z, y, x) indices, upper bounds exclusive.
        center_voxel: (z, y, x) centre of the box, continuous voxel index.
        center_mm: patient RAS (x, y, z) mm of that centre.
        box_mm_min: RAS (x, y, z) corner of the box's extent, mm (minimum over its corners).
        box_mm_max: RAS (x, y, z) opposite corner, mm.
        size_mm: (z, y, x) edge lengths of the box along the volume's axes, mm.
        volume_mm3: volume of the region itself (voxels above the threshold), mm^3.
        peak: highest activation in the region, [0, 1].
        mean: mean activation in the region, [0, 1].
    """

    rank: int
    box_voxels: Box3D
    center_voxel: tuple[float, float, float]
    center_mm: tuple[float, float, float]
    box_mm_min: tuple[float, float, float]
    box_mm_max: tuple[float, float, float]
    size_mm: tuple[float, float, float]
    volume_mm3: float
    peak: float
    mean: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (for CSV/JSON output and the case store)."""
        return {
            "rank": self.rank,
            "box_voxels": list(self.box_voxels.as_tuple()),
            "center_voxel": [round(v, 2) for v in self.center_voxel],
            "center_mm": [round(v, 2) for v in self.center_mm],
            "box_mm_min": [round(v, 2) for v in self.box_mm_min],
            "box_mm_max": [round(v, 2) for v in self.box_mm_max],
            "size_mm": [round(v, 2) for v in self.size_mm],
            "volume_mm3": round(self.volume_mm3, 1),
            "peak": round(self.peak, 4),
            "mean": round(self.mean, 4),
        }


def gradcam_layer(
    network: nn.Module, input_size: int | Sequence[int] = 128, *, min_cells: int = 8
) -> tuple[str, nn.Module]:
    """The block to explain: the deepest whose map keeps ``min_cells`` cells per axis.

    Args:
        network: a CT network from :mod:`ankle_core.models.cnn3d`.
        input_size: the model's input cube edge (or (D, H, W)), voxels.
        min_cells: smallest acceptable map edge, cells.

    Returns:
        ``(name, module)``; the shallowest block when none is large enough.

    >>> from ankle_core.models.cnn3d import build_ct_mobilenet3d
    >>> gradcam_layer(build_ct_mobilenet3d(width_mult=0.25), 64)[0]
    'features.3'
    """
    sizes = [input_size] * 3 if isinstance(input_size, int) else list(input_size)
    smallest = min(int(s) for s in sizes)
    stages = feature_stages(network)
    chosen = stages[0]
    for stage in stages:
        if smallest // stage[2] >= min_cells:
            chosen = stage
    return chosen[0], chosen[1]


def fracture_log_odds(output: torch.Tensor) -> torch.Tensor:
    """Grad-CAM target: logit 1 minus logit 0 (two classes), or the single logit. (N,)."""
    if output.shape[1] >= 2:
        return output[:, 1] - output[:, 0]
    return output[:, 0]


def ct_grad_cam(
    network: nn.Module,
    cube: npt.ArrayLike | torch.Tensor,
    *,
    layer: nn.Module | None = None,
    device: torch.device | str = "cpu",
    method: CamMethod = "gradcam",
) -> F32:
    """Grad-CAM (or HiResCAM) of one preprocessed cube, at the layer's resolution.

    Args:
        network: CT network in eval mode (shared models are safe: the core's lock).
        cube: (D, H, W) model input (float32).
        layer: block to explain; :func:`gradcam_layer` when None.
        device: where the network lives.
        method: ``"gradcam"`` or ``"hirescam"``.

    Returns:
        (d, h, w) float32 map, ReLU applied, not normalised.
    """
    x = torch.as_tensor(np.asarray(cube, dtype=np.float32))[None, None].to(device)
    if layer is None:
        layer = gradcam_layer(network, tuple(x.shape[2:]))[1]
    cam = grad_cam(network, x, layer, fracture_log_odds, method=method)
    return np.ascontiguousarray(cam[0].numpy(), dtype=np.float32)


def _separable_upsample(
    cam: F32, diag: F64, shift: F64, out: F32, order: int, chunk: int = 16
) -> None:
    """Write the spline of ``cam`` at ``diag * o + shift`` into ``out`` (a 3D view)."""
    mats = [
        spline_weights(cam.shape[r], diag[r] * np.arange(out.shape[r]) + shift[r], order)
        for r in range(3)
    ]
    # contract x then y on the small CAM, then z in chunks of output slices
    partial = np.tensordot(cam, mats[2], axes=([2], [1]))  # (i, j, c)
    partial = np.einsum("ijc,bj->ibc", partial, mats[1])  # (i, b, c)
    flat = np.ascontiguousarray(partial.reshape(cam.shape[0], -1), dtype=np.float32)
    for a0 in range(0, out.shape[0], chunk):
        a1 = min(out.shape[0], a0 + chunk)
        out[a0:a1] = (mats[0][a0:a1] @ flat).reshape(a1 - a0, out.shape[1], out.shape[2])


def cam_to_original(
    cam: npt.ArrayLike, transform: GridTransform, *, order: int = 3
) -> tuple[F32, tuple[slice, slice, slice]]:
    """Evaluate a model-grid CAM on the original volume grid and scale it to [0, 1].

    When the model grid follows the volume's axes up to a signed permutation (always the
    case for grids from :func:`~ankle_core.preprocess.spatial.plan_grid`), the spline is
    evaluated separably (three small weight matrices and a chunked matrix product: about
    1 s for 100 million voxels); otherwise with ``scipy.ndimage.affine_transform``. Both
    give scipy's spline of the given order with ``mode="nearest"``.

    Args:
        cam: (d, h, w) map covering the model grid (any resolution; cells centred on
            their blocks).
        transform: the preprocessing's kept transform.
        order: spline order, 0 to 5 (3 = cubic, as the reference paper's spline zoom).

    Returns:
        ``(heat, footprint)``: (z, y, x) float32 map of ``transform.original_shape`` in [0, 1]
        (0 outside the model's field of view) and the slices of that field of view.
    """
    if not 0 <= order <= 5:
        raise ValueError(f"The spline order must be 0 to 5, got {order}.")
    arr = np.ascontiguousarray(np.asarray(cam, dtype=np.float32))
    footprint = transform.original_footprint()
    heat = np.zeros(transform.original_shape, dtype=np.float32)
    if any(s.stop <= s.start for s in footprint):
        return heat, footprint
    linear, offset = cam_index_map(arr.shape, transform)
    start = np.array([s.start for s in footprint], dtype=np.float64)
    offset = offset + linear @ start
    window = tuple(s.stop - s.start for s in footprint)
    out = heat[footprint]
    axes = transform.axis_map()
    if axes is not None:
        # grid axes follow original axes up to a signed permutation: transpose the CAM to
        # the original's axis order so the index map is diagonal, hence separable
        columns = axes[0]
        arr = np.ascontiguousarray(arr.transpose(columns))
        diag = np.array([linear[columns[r], r] for r in range(3)])
        shift = np.array([offset[columns[r]] for r in range(3)])
        _separable_upsample(arr, diag, shift, out, order)
    else:
        ndimage.affine_transform(
            arr, linear, offset=offset, output_shape=window, output=out, order=order,
            mode="nearest",
        )  # fmt: skip
    np.clip(out, 0.0, None, out=out)
    hi = float(out.max())
    if hi > 1e-12:
        out /= np.float32(hi)
    else:
        out[...] = 0.0
    return heat, footprint


def _voxel_sizes_zyx(affine: F64) -> F64:
    sizes: F64 = np.linalg.norm(affine[:3, :3], axis=0)[::-1]
    return sizes


def _cam_region(region: HeatRegion, affine: F64, offset: Sequence[int]) -> CamRegion:
    lower = [lo + o for lo, o in zip(region.lower, offset, strict=True)]
    upper = [hi + o for hi, o in zip(region.upper, offset, strict=True)]
    box = Box3D(*lower, *upper)
    corners = np.array(
        [[z, y, x] for z in (lower[0] - 0.5, upper[0] - 0.5)
         for y in (lower[1] - 0.5, upper[1] - 0.5) for x in (lower[2] - 0.5, upper[2] - 0.5)]
    )  # fmt: skip
    ras = voxel_to_ras(affine, corners)
    center = box.center
    center_mm = voxel_to_ras(affine, center)
    sizes = _voxel_sizes_zyx(affine) * (np.asarray(upper) - np.asarray(lower))
    voxel_mm3 = abs(float(np.linalg.det(affine[:3, :3])))
    return CamRegion(
        rank=region.rank,
        box_voxels=box,
        center_voxel=(float(center[0]), float(center[1]), float(center[2])),
        center_mm=(float(center_mm[0]), float(center_mm[1]), float(center_mm[2])),
        box_mm_min=tuple(float(v) for v in ras.min(axis=0)),  # type: ignore[arg-type]
        box_mm_max=tuple(float(v) for v in ras.max(axis=0)),  # type: ignore[arg-type]
        size_mm=(float(sizes[0]), float(sizes[1]), float(sizes[2])),
        volume_mm3=region.n_voxels * voxel_mm3,
        peak=region.peak,
        mean=region.mean,
    )


def to_cam_regions(regions: Sequence[HeatRegion], affine: npt.ArrayLike) -> tuple[CamRegion, ...]:
    """Regions found on the original grid (e.g. by
    :func:`~ankle_core.explain.ct_heat.heat_regions`) with voxel and mm coordinates."""
    aff = np.asarray(affine, dtype=np.float64)
    return tuple(_cam_region(r, aff, (0, 0, 0)) for r in regions)


def _window_mask(
    mask: npt.NDArray[np.bool_] | None, shape: tuple[int, ...], window: tuple[slice, ...]
) -> npt.NDArray[np.bool_] | None:
    """``mask`` restricted to ``window``; a mask already of the window's shape is kept."""
    if mask is None or mask.shape != tuple(shape):
        return mask
    return mask[window]


def cam_regions(
    heat: F32,
    affine: npt.ArrayLike,
    settings: BoxSettings | None = None,
    *,
    footprint: tuple[slice, slice, slice] | None = None,
    mask: npt.NDArray[np.bool_] | None = None,
    threshold: float | None = None,
) -> tuple[CamRegion, ...]:
    """Boxes of a heat map on the original grid, with voxel and mm coordinates.

    Args:
        heat: (z, y, x) map in [0, 1] on the original volume grid.
        affine: the volume's 4x4 NIfTI-convention affine.
        settings: how boxes are drawn (threshold, minimum volume, ranking, most boxes);
            default :class:`~ankle_core.explain.boxes.BoxSettings`.
        footprint: the part of ``heat`` to search (the model's field of view); all if None.
        mask: (z, y, x) voxels that take part in the threshold and in the regions (the
            body, ``settings.body``), of ``heat``'s shape or of the footprint's; all of the
            footprint if None. Without it, a map that
            is warm all over the body and zero in the air gets a threshold that separates
            body from air.
        threshold: a threshold already taken (e.g. to keep it with the result);
            ``settings.threshold`` over the footprint and mask when None.

    Returns:
        The regions, best first.
    """
    settings = settings or BoxSettings()
    aff = np.asarray(affine, dtype=np.float64)
    window = footprint or (
        slice(0, heat.shape[0]),
        slice(0, heat.shape[1]),
        slice(0, heat.shape[2]),
    )
    inside = _window_mask(mask, heat.shape, window)
    if threshold is None:
        threshold = settings.threshold(heat[window], inside)
    regions = settings.regions(
        heat[window],
        threshold,
        mask=inside,
        voxel_volume_mm3=abs(float(np.linalg.det(aff[:3, :3]))),
    )
    start = [s.start for s in window]
    return tuple(_cam_region(r, aff, start) for r in regions)
