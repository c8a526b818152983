"""The radiograph pipeline's result as a Comprehensive SR (TID 1500 measurement report).

Content (all under the report's "Imaging Measurements"):

- one **planar ROI group** (TID 1410) per fragment: the box as a closed SCOORD POLYLINE on
  the source image, the fragment's probability of LMAF and its detection score (numeric,
  unit UCUM ``{probability}``), and its call (coded qualitative evaluation);
- one **image-level group** (TID 1501) referencing the source image: the case call, the
  case probability when there is one and, when no fragment was found, the coded finding
  "No perimalleolar fragment found".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from highdicom import UID
from highdicom.sr import (
    ComprehensiveSR,
    GraphicTypeValues,
    ImageRegion,
    Measurement,
    MeasurementsAndQualitativeEvaluations,
    PlanarROIMeasurementsAndQualitativeEvaluations,
    QualitativeEvaluation,
    SourceImageForMeasurementGroup,
    SourceImageForRegion,
    TrackingIdentifier,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from ankle_core.export import codes as ac
from ankle_core.export.header import export_boundary, export_view
from ankle_core.export.series import (
    ResultSeries,
    algorithm_id,
    measurement_report_sr,
    new_result_series,
)
from ankle_core.types import Box2D

if TYPE_CHECKING:
    from ankle_core.inference.radiograph import RadiographResult

__all__ = ["RADIOGRAPH_SR_SERIES_NUMBER", "box_polyline", "build_radiograph_sr"]

RADIOGRAPH_SR_SERIES_NUMBER = 901


def box_polyline(box: Box2D) -> np.ndarray:
    """A box as a closed polyline in (column, row) image coordinates.

    Args:
        box: pixels of the source image (x is the column, y the row).

    Returns:
        (5, 2) float32: the four corners clockwise from the top-left, then the first again.

    >>> box_polyline(Box2D(1, 2, 3, 4)).tolist()
    [[1.0, 2.0], [3.0, 2.0], [3.0, 4.0], [1.0, 4.0], [1.0, 2.0]]
    """
    x0, y0, x1, y1 = box.as_xyxy()
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float32)


@export_boundary("structured report")
def build_radiograph_sr(
    source: Dataset,
    result: RadiographResult,
    *,
    series: ResultSeries | None = None,
) -> ComprehensiveSR:
    """Build the Comprehensive SR of one radiograph's result.

    Args:
        source: the analysed image's original data set (held in memory; it is referenced
            and its patient/study attributes are copied, never altered).
        result: the radiograph pipeline's result for that image; fragment boxes are in the
            source image's pixels.
        series: the result series' identity; default: a new series named after the
            classifier (``"AI <classifier> <version>"``), number 901.

    Returns:
        The SR data set (a new series in the source's study).
    """
    series = series or new_result_series(result.classifier, RADIOGRAPH_SR_SERIES_NUMBER)
    source = export_view(source)
    source_ref = SourceImageForRegion.from_source_image(source)
    classifier_id = algorithm_id(result.classifier)
    groups: list[
        PlanarROIMeasurementsAndQualitativeEvaluations | MeasurementsAndQualitativeEvaluations
    ] = []
    for index, fragment in enumerate(result.fragments, start=1):
        region = ImageRegion(
            graphic_type=GraphicTypeValues.POLYLINE,
            graphic_data=box_polyline(fragment.box),
            source_image=source_ref,
        )
        groups.append(
            PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=TrackingIdentifier(
                    uid=str(UID()), identifier=f"fragment {index}"
                ),
                referenced_region=region,
                finding_type=ac.FRAGMENT,
                algorithm_id=classifier_id,
                measurements=[
                    Measurement(
                        name=ac.P_LMAF,
                        value=float(fragment.p_lmaf),
                        unit=ac.PROBABILITY_UNIT,
                        algorithm_id=classifier_id,
                    ),
                    Measurement(
                        name=ac.DETECTION_SCORE,
                        value=float(fragment.detection_score),
                        unit=ac.PROBABILITY_UNIT,
                        algorithm_id=algorithm_id(result.detector),
                    ),
                ],
                qualitative_evaluations=[
                    QualitativeEvaluation(
                        name=ac.FRAGMENT_CALL, value=ac.code_for_call(fragment.call, ac.CALL_CODES)
                    )
                ],
            )
        )
    case_measurements = []
    if result.case_p_lmaf is not None:
        case_measurements.append(
            Measurement(
                name=ac.CASE_P_LMAF,
                value=float(result.case_p_lmaf),
                unit=ac.PROBABILITY_UNIT,
                algorithm_id=classifier_id,
            )
        )
    evaluations = [
        QualitativeEvaluation(
            name=ac.CASE_CALL, value=ac.code_for_call(result.case_call, ac.CALL_CODES)
        )
    ]
    if not result.fragments:
        evaluations.append(
            QualitativeEvaluation(name=codes.DCM.Finding, value=ac.NO_FRAGMENT_FOUND)
        )
    groups.append(
        MeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=str(UID()), identifier="radiograph"),
            algorithm_id=classifier_id,
            measurements=case_measurements or None,
            qualitative_evaluations=evaluations,
            source_images=[SourceImageForMeasurementGroup.from_source_image(source)],
        )
    )
    return measurement_report_sr(ComprehensiveSR, [source], groups, result.classifier, series)
