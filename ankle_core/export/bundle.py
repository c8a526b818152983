"""All result objects of one analysed radiograph or CT series, ready to store.

A radiograph gives a Comprehensive SR and an overlay Secondary Capture; a CT series gives
a Comprehensive 3D SR and, when it has Grad-CAM regions, a Segmentation. Every object is a
new series in the source's study; the sources are only read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from ankle_core.export.ct_seg import build_ct_segmentation
from ankle_core.export.ct_sr import build_ct_sr
from ankle_core.export.header import export_boundary
from ankle_core.export.localiser_sr import (
    LOCALISER_SC_SERIES_NUMBER,
    build_localiser_sr,
    render_localiser_overlay,
)
from ankle_core.export.overlay_image import render_overlay
from ankle_core.export.radiograph_sr import build_radiograph_sr
from ankle_core.export.secondary_capture import build_overlay_sc
from ankle_core.export.series import new_result_series
from ankle_core.types import Radiograph, Volume

if TYPE_CHECKING:
    from ankle_core.inference.ct import CtResult
    from ankle_core.inference.localiser import LocaliserResult
    from ankle_core.inference.radiograph import RadiographResult

__all__ = ["export_ct", "export_radiograph"]


@export_boundary("DICOM results")
def export_radiograph(
    source: Dataset,
    radiograph: Radiograph,
    result: RadiographResult,
    saliency: npt.NDArray[np.float32] | None = None,
    localiser: LocaliserResult | None = None,
) -> list[Dataset]:
    """The SR and the overlay Secondary Capture of one radiograph's result.

    With ``localiser`` (the fracture localiser's result on the same image), its own SR and
    overlay Secondary Capture follow.

    Args:
        source: the image's original data set (in memory only).
        radiograph: the radiograph the pipeline analysed (read from ``source``).
        result: the pipeline's result.
        saliency: optional (H, W) map in [0, 1] burned into the overlay.
        localiser: optional fracture-localiser result on the same image.

    Returns:
        ``[sr, sc]``, then ``[localiser sr, localiser sc]`` when ``localiser`` is given.
    """
    sr = build_radiograph_sr(source, result)
    sc = build_overlay_sc(source, render_overlay(radiograph, result, saliency), result.classifier)
    if localiser is None:
        return [sr, sc]
    loc_series = new_result_series(localiser.model, LOCALISER_SC_SERIES_NUMBER, "overlay")
    loc_sc = build_overlay_sc(
        source, render_localiser_overlay(radiograph, localiser), localiser.model, series=loc_series
    )
    return [sr, sc, build_localiser_sr(source, localiser), loc_sc]


@export_boundary("DICOM results")
def export_ct(sources: Sequence[Dataset], volume: Volume, result: CtResult) -> list[Dataset]:
    """The SR and (when there are regions) the Segmentation of one CT series' result.

    Args:
        sources: the series' original slices (in memory only).
        volume: the volume the pipeline analysed (read from ``sources``).
        result: the pipeline's result.

    Returns:
        ``[sr]`` or ``[sr, seg]``.
    """
    objects: list[Dataset] = [build_ct_sr(sources, result)]
    seg = build_ct_segmentation(sources, volume, result)
    if seg is not None:
        objects.append(seg)
    return objects
