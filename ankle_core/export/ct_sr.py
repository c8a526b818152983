"""The CT pipeline's result as a Comprehensive 3D SR (TID 1500 measurement report).

Content:

- one **image-level group** (TID 1501) referencing the source series: the probability of
  fracture (numeric, UCUM ``{probability}``) and the call (coded);
- one **volumetric ROI group** (TID 1411) per Grad-CAM region, in rank order and numbered
  from 1 like the Segmentation's segments ("Grad-CAM region 1", ...): its centre as an SCOORD3D
  POINT in the source's frame of reference (patient LPS mm, as DICOM requires; the
  pipeline's RAS centre with x and y negated), its volume (mm3) and Grad-CAM peak.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from highdicom import UID
from highdicom.sr import (
    Comprehensive3DSR,
    GraphicTypeValues3D,
    Measurement,
    MeasurementsAndQualitativeEvaluations,
    QualitativeEvaluation,
    SourceImageForMeasurementGroup,
    SourceSeriesForSegmentation,
    TrackingIdentifier,
    VolumeSurface,
    VolumetricROIMeasurementsAndQualitativeEvaluations,
)
from pydicom.dataset import Dataset

from ankle_core.errors import InvalidInputError
from ankle_core.export import codes as ac
from ankle_core.export.header import export_boundary, export_views
from ankle_core.export.series import (
    ResultSeries,
    algorithm_id,
    measurement_report_sr,
    new_result_series,
)

if TYPE_CHECKING:
    from ankle_core.inference.ct import CtResult

__all__ = ["CT_SR_SERIES_NUMBER", "build_ct_sr", "ras_to_lps"]

CT_SR_SERIES_NUMBER = 904


def ras_to_lps(ras: Sequence[float]) -> tuple[float, float, float]:
    """Patient RAS mm (x, y, z) -> DICOM patient LPS mm.

    >>> ras_to_lps((1.0, -2.0, 3.0))
    (-1.0, 2.0, 3.0)
    """
    x, y, z = (float(v) for v in ras)
    return -x, -y, z


@export_boundary("structured report")
def build_ct_sr(
    sources: Sequence[Dataset],
    result: CtResult,
    *,
    series: ResultSeries | None = None,
) -> Comprehensive3DSR:
    """Build the Comprehensive 3D SR of one CT series' result.

    Args:
        sources: the analysed series' original slices (held in memory; referenced, not
            altered); they must share one Frame of Reference UID.
        result: the CT pipeline's result.
        series: the result series' identity; default: a new series ``"AI <model>"``,
            number 904.

    Returns:
        The SR data set (a new series in the source's study).

    Raises:
        InvalidInputError: the slices have no Frame of Reference UID.
    """
    if not sources:
        raise InvalidInputError("A CT report needs the source slices.")
    frame_uid = str(sources[0].get("FrameOfReferenceUID", "") or "")
    if not frame_uid:
        raise InvalidInputError("The CT series has no Frame of Reference UID.")
    series = series or new_result_series(result.model, CT_SR_SERIES_NUMBER)
    sources = export_views(sources)
    model_id = algorithm_id(result.model)
    series_uid = str(sources[0].SeriesInstanceUID)
    groups: list[
        VolumetricROIMeasurementsAndQualitativeEvaluations | MeasurementsAndQualitativeEvaluations
    ] = [
        MeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=str(UID()), identifier="ct series"),
            algorithm_id=model_id,
            measurements=[
                Measurement(
                    name=ac.FRACTURE_PROBABILITY,
                    value=float(result.probability),
                    unit=ac.PROBABILITY_UNIT,
                    algorithm_id=model_id,
                )
            ],
            qualitative_evaluations=[
                QualitativeEvaluation(
                    name=ac.CT_CALL, value=ac.code_for_call(result.call, ac.CT_CALL_CODES)
                )
            ],
            source_images=[SourceImageForMeasurementGroup.from_source_image(ds) for ds in sources],
        )
    ]
    for index, region in enumerate(result.regions, start=1):
        centre = np.array([ras_to_lps(region.center_mm)], dtype=np.float64)
        groups.append(
            VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=TrackingIdentifier(
                    uid=str(UID()), identifier=f"Grad-CAM region {index}"
                ),
                referenced_volume_surface=VolumeSurface(
                    graphic_type=GraphicTypeValues3D.POINT,
                    graphic_data=centre,
                    frame_of_reference_uid=frame_uid,
                    source_series=SourceSeriesForSegmentation(series_uid),
                ),
                finding_type=ac.GRADCAM_REGION,
                algorithm_id=model_id,
                measurements=[
                    Measurement(
                        name=ac.VOLUME,
                        value=float(region.volume_mm3),
                        unit=ac.CUBIC_MM,
                        algorithm_id=model_id,
                    ),
                    Measurement(
                        name=ac.GRADCAM_PEAK,
                        value=float(region.peak),
                        unit=ac.PROBABILITY_UNIT,
                        algorithm_id=model_id,
                    ),
                ],
            )
        )
    return measurement_report_sr(Comprehensive3DSR, sources, groups, result.model, series)
