"""The CT pipeline's Grad-CAM regions as a binary DICOM Segmentation of the source series.

One segment per ranked region: the voxels of the region's box whose heat-map value lies above
the threshold the pipeline drew its boxes at (``CtResult.region_threshold``; the export never
takes a threshold of its own), i.e. the thresholded Grad-CAM blob the box was drawn around
(the whole box when the result carries no heat map or no threshold, or the blob is empty). Masks are
computed on the reader's volume grid and sampled onto each source slice through the
slices' own geometry (ImagePositionPatient, ImageOrientationPatient, PixelSpacing), so the
segmentation's frames align with the source images whatever order the reader used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from highdicom import AlgorithmIdentificationSequence
from highdicom.seg import (
    SegmentAlgorithmTypeValues,
    Segmentation,
    SegmentationTypeValues,
    SegmentDescription,
)
from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from ankle_core.errors import InvalidInputError
from ankle_core.export.codes import GRADCAM_REGION, declare_private_scheme
from ankle_core.export.header import export_boundary, export_views
from ankle_core.export.series import (
    MANUFACTURER,
    ResultSeries,
    new_result_series,
    split_model,
)
from ankle_core.types import Volume

if TYPE_CHECKING:
    from ankle_core.inference.ct import CtResult

__all__ = ["CT_SEG_SERIES_NUMBER", "build_ct_segmentation", "region_masks", "sample_on_slices"]

CT_SEG_SERIES_NUMBER = 903
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def region_masks(volume: Volume, result: CtResult) -> npt.NDArray[np.bool_]:
    """One boolean mask per region on the volume grid.

    Args:
        volume: the analysed volume (array (z, y, x)).
        result: the CT result; regions' ``box_voxels`` are on the volume grid and
            ``heatmap`` (z, y, x) in [0, 1] (an array or the pipeline's lazy map, read on
            each box only) or None.

    Returns:
        (K, z, y, x) bool, K = number of regions (0 when there is none).
    """
    shape = volume.shape
    masks = np.zeros((len(result.regions), *shape), dtype=bool)
    heat = result.heatmap
    # The pipeline's own threshold, never a new one: the segments are the blobs the boxes
    # were drawn around. A result that carries none gets whole boxes.
    threshold = result.region_threshold
    if heat is None or heat.shape != shape:
        threshold = None
    for k, region in enumerate(result.regions):
        z0, y0, x0, z1, y1, x1 = region.box_voxels.as_tuple()
        box = (slice(max(z0, 0), z1), slice(max(y0, 0), y1), slice(max(x0, 0), x1))
        masks[k][box] = True
        if threshold is not None and heat is not None:
            blob = np.asarray(heat[box]) > threshold  # the map read on the box alone
            if blob.any():
                masks[k][box] = blob
    return masks


def sample_on_slices(
    volume: Volume, masks: npt.NDArray[np.bool_], sources: Sequence[Dataset]
) -> npt.NDArray[np.bool_]:
    """Sample volume-grid masks onto each source slice's pixel grid (nearest voxel).

    Args:
        volume: the volume the masks live on (its affine maps voxels to RAS mm).
        masks: (K, z, y, x) bool.
        sources: the source slices (single-frame, with the image plane attributes).

    Returns:
        (N, rows, cols, K) bool, in the order of ``sources``.

    Raises:
        InvalidInputError: a source slice lacks its image plane attributes.
    """
    out = []
    for ds in sources:
        try:
            ipp = np.asarray(ds.ImagePositionPatient, dtype=np.float64)
            iop = np.asarray(ds.ImageOrientationPatient, dtype=np.float64)
            d_row, d_col = (float(v) for v in ds.PixelSpacing)
            rows, cols = int(ds.Rows), int(ds.Columns)
        except (AttributeError, TypeError, ValueError):
            raise InvalidInputError(
                "A CT slice lacks its position, orientation or pixel spacing."
            ) from None
        r, c = np.mgrid[0:rows, 0:cols]
        lps = ipp + c[..., None] * d_col * iop[:3] + r[..., None] * d_row * iop[3:]
        zyx = np.rint(volume.ras_to_voxel(lps @ _LPS_TO_RAS)).astype(np.int64)
        inside = np.all((zyx >= 0) & (zyx < np.asarray(volume.shape)), axis=-1)
        zyx = np.where(inside[..., None], zyx, 0)
        frame = masks[:, zyx[..., 0], zyx[..., 1], zyx[..., 2]] & inside[None]
        out.append(np.moveaxis(frame, 0, -1))
    return np.stack(out) if out else np.zeros((0, 0, 0, masks.shape[0]), dtype=bool)


@export_boundary("segmentation")
def build_ct_segmentation(
    sources: Sequence[Dataset],
    volume: Volume,
    result: CtResult,
    *,
    series: ResultSeries | None = None,
) -> Segmentation | None:
    """Build the binary Segmentation of the result's regions.

    Args:
        sources: the analysed series' original slices (held in memory; not altered).
        volume: the volume read from them.
        result: the CT result.
        series: the result series' identity; default: a new series
            ``"AI <model> regions"``, number 903.

    Returns:
        The Segmentation, or None when the result has no region (nothing to segment).
    """
    if not result.regions:
        return None
    series = series or new_result_series(result.model, CT_SEG_SERIES_NUMBER, "regions")
    name, version = split_model(result.model)
    frames = sample_on_slices(volume, region_masks(volume, result), sources)
    sources = export_views(sources)
    descriptions = [
        SegmentDescription(
            segment_number=k,
            segment_label=f"Grad-CAM region {k}",
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=CodedConcept(
                value=GRADCAM_REGION.value,
                scheme_designator=GRADCAM_REGION.scheme_designator,
                meaning=GRADCAM_REGION.meaning,
            ),
            algorithm_type=SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=AlgorithmIdentificationSequence(
                name=name, family=codes.cid7162.ArtificialIntelligence, version=version
            ),
        )
        for k in range(1, len(result.regions) + 1)
    ]
    seg = Segmentation(
        source_images=list(sources),
        pixel_array=frames,
        segmentation_type=SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series.series_uid,
        series_number=series.series_number,
        sop_instance_uid=series.sop_uid,
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=name,
        software_versions=version,
        device_serial_number="none",
        content_description="Grad-CAM regions (AI, not for diagnostic use)",
        omit_empty_frames=False,
    )
    seg.SeriesDescription = series.description
    declare_private_scheme(seg)
    return seg
