"""Read an input and run a pipeline: plain functions, cached by ``ui.resources``.

The results bundle everything the pages draw, so a rerun (a slider, a toggle) only redraws.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ankle_core.config import ReadLimits

if TYPE_CHECKING:
    from ankle_core.explain.ct import CamSettings
    from ankle_core.inference.ct import CtPipeline, CtResult
    from ankle_core.inference.radiograph import RadiographPipeline, RadiographResult
    from ankle_core.types import Radiograph, Volume

__all__ = ["CtAnalysis", "RadiographAnalysis", "analyse_ct", "analyse_radiograph", "sha256_hex"]


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of the input's bytes (the case's only link to its input)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RadiographAnalysis:
    """A radiograph, its pipeline result and the classifier saliency.

    Attributes:
        radiograph: the image as read (pixels (H, W) in [0, 1]).
        result: detected fragments and calls.
        saliency: (H, W) float32 in [0, 1]; classifier Grad-CAM on the whole radiograph.
    """

    radiograph: Radiograph
    result: RadiographResult
    saliency: npt.NDArray[np.float32]


@dataclass(frozen=True)
class CtAnalysis:
    """A CT volume and its pipeline result (probability, heat map, Otsu boxes)."""

    volume: Volume
    result: CtResult


def analyse_radiograph(
    pipeline: RadiographPipeline, data: bytes, limits: ReadLimits
) -> RadiographAnalysis:
    """Read a DICOM/PNG/JPEG radiograph, detect and classify fragments, explain them.

    Args:
        pipeline: the loaded radiograph pipeline.
        data: the file's bytes.
        limits: reader limits.

    Returns:
        The analysis.

    Raises:
        InvalidInputError: the file cannot be read as a radiograph.
    """
    from ankle_core.io import read_radiograph

    radiograph = read_radiograph(data, limits=limits)
    result = pipeline.run(radiograph)
    saliency = np.asarray(pipeline.fragment_saliency(radiograph, result), dtype=np.float32)
    saliency.setflags(write=False)
    return RadiographAnalysis(radiograph, result, saliency)


def analyse_ct(
    pipeline: CtPipeline,
    data: bytes,
    limits: ReadLimits,
    explanation: CamSettings | None = None,
) -> CtAnalysis:
    """Read a NIfTI or zipped DICOM series and run the CT pipeline with Grad-CAM boxes.

    Args:
        pipeline: the loaded CT pipeline.
        data: the file's bytes.
        limits: reader limits.
        explanation: heat-map settings (default: the model card's).

    Returns:
        The analysis.

    Raises:
        InvalidInputError: the file cannot be read as a volume.
    """
    from ankle_core.io import read_volume

    volume = read_volume(data, limits=limits)
    return CtAnalysis(volume, pipeline.run(volume, explain=True, explanation=explanation))


def bone_surface(
    volume: Volume, *, threshold_hu: float = 300.0, max_side: int = 64
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Marching-cubes surface of the bone (HU above ``threshold_hu``) on a coarse grid.

    Args:
        volume: the CT volume.
        threshold_hu: bone threshold in HU.
        max_side: the volume is strided so that no side exceeds this many voxels.

    Returns:
        ``(vertices, faces)``: (V, 3) float32 (z, y, x) mm on the original grid, and (F, 3)
        triangle indices. Empty arrays when no voxel is bone.
    """
    from skimage.measure import marching_cubes

    step = max(1, int(np.ceil(max(volume.shape) / max_side)))
    mask = (volume.array[::step, ::step, ::step] > threshold_hu).astype(np.float32)
    if mask.min() == mask.max():
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    spacing = tuple(s * step for s in volume.spacing_mm)
    verts, faces, _, _ = marching_cubes(  # type: ignore[no-untyped-call]
        np.pad(mask, 1), level=0.5, spacing=spacing
    )
    verts = verts - np.asarray(spacing)  # undo the one-voxel pad
    return verts.astype(np.float32), faces.astype(np.int64)
