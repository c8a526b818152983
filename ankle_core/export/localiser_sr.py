"""The fracture localiser's result as DICOM: a Comprehensive SR and an overlay picture.

One planar ROI group per suggested box (a closed polyline in the source image's pixels,
finding "Fracture of bone" (SCT 125605004), its box score) and one image-level group (the
fracture score, the call at the card's operating point). The overlay picture draws the
numbered boxes, the call and the training data's credit line; it becomes a Secondary
Capture with :func:`~ankle_core.export.secondary_capture.build_overlay_sc`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
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
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset

from ankle_core.export import codes as ac
from ankle_core.export.radiograph_sr import box_polyline
from ankle_core.export.series import (
    NOT_FOR_DIAGNOSTIC_USE,
    ResultSeries,
    algorithm_id,
    filing_view,
    measurement_report_sr,
    new_result_series,
)
from ankle_core.types import Radiograph

if TYPE_CHECKING:
    from ankle_core.inference.localiser import LocaliserResult

__all__ = [
    "LOCALISER_SC_SERIES_NUMBER",
    "LOCALISER_SR_SERIES_NUMBER",
    "build_localiser_sr",
    "render_localiser_overlay",
]

LOCALISER_SR_SERIES_NUMBER = 903
LOCALISER_SC_SERIES_NUMBER = 904
_BOX_COLOUR = (255, 160, 0)


def build_localiser_sr(
    source: Dataset, result: LocaliserResult, *, series: ResultSeries | None = None
) -> ComprehensiveSR:
    """Build the Comprehensive SR of a fracture localiser's result on one image.

    Args:
        source: the analysed image's original data set (referenced, never altered).
        result: the localiser's result; boxes in the source image's pixels.
        series: the result series; default: ``"AI <model>"``, number 903.

    Returns:
        The SR data set (a new series in the source's study).
    """
    series = series or new_result_series(result.model, LOCALISER_SR_SERIES_NUMBER)
    source = filing_view(source)
    ref = SourceImageForRegion.from_source_image(source)
    algo = algorithm_id(result.model)
    groups: list[
        PlanarROIMeasurementsAndQualitativeEvaluations | MeasurementsAndQualitativeEvaluations
    ] = []
    for index, found in enumerate(result.boxes, start=1):
        groups.append(
            PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=TrackingIdentifier(
                    uid=str(UID()), identifier=f"fracture box {index}"
                ),
                referenced_region=ImageRegion(
                    graphic_type=GraphicTypeValues.POLYLINE,
                    graphic_data=box_polyline(found.box),
                    source_image=ref,
                ),
                finding_type=ac.CT_CALL_CODES["fracture"],
                algorithm_id=algo,
                measurements=[
                    Measurement(
                        name=ac.FRACTURE_BOX_SCORE,
                        value=float(found.score),
                        unit=ac.PROBABILITY_UNIT,
                        algorithm_id=algo,
                    )
                ],
            )
        )
    call = "fracture" if result.fracture_call else "no fracture"
    groups.append(
        MeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=str(UID()), identifier="radiograph"),
            algorithm_id=algo,
            measurements=[
                Measurement(
                    name=ac.IMAGE_FRACTURE_SCORE,
                    value=float(result.image_score),
                    unit=ac.PROBABILITY_UNIT,
                    algorithm_id=algo,
                )
            ],
            qualitative_evaluations=[
                QualitativeEvaluation(name=ac.IMAGE_FRACTURE_CALL, value=ac.CT_CALL_CODES[call])
            ],
            source_images=[SourceImageForMeasurementGroup.from_source_image(source)],
        )
    )
    return measurement_report_sr(ComprehensiveSR, [source], groups, result.model, series)


def render_localiser_overlay(
    radiograph: Radiograph, result: LocaliserResult
) -> npt.NDArray[np.uint8]:
    """The radiograph with the numbered boxes, the call and the credit line burned in.

    Returns:
        (H, W, 3) uint8 RGB, the radiograph's size.
    """
    grey = np.round(np.asarray(radiograph.pixels, dtype=np.float32) * 255.0).astype(np.uint8)
    image = Image.fromarray(np.repeat(grey[..., None], 3, axis=2), mode="RGB")
    draw = ImageDraw.Draw(image)
    height, width = radiograph.shape
    scale = max(1, min(height, width) // 256)
    font = ImageFont.load_default(size=10 * scale)
    for index, found in enumerate(result.boxes, start=1):
        draw.rectangle(found.box.as_xyxy(), outline=_BOX_COLOUR, width=scale)
        y = max(0.0, found.box.y0 - 12 * scale)
        draw.text((found.box.x0, y), f"{index} {found.score:.2f}", fill=_BOX_COLOUR, font=font)
    call = "fracture suspected" if result.fracture_call else "no fracture found"
    banner = f"{NOT_FOR_DIAGNOSTIC_USE} - {call} ({result.image_score:.2f})"
    draw.rectangle((0, 0, width, 14 * scale), fill=(0, 0, 0))
    draw.text((2 * scale, 2 * scale), banner, fill=(255, 255, 0), font=font)
    if result.credit:
        draw.rectangle((0, height - 14 * scale, width, height), fill=(0, 0, 0))
        draw.text(
            (2 * scale, height - 12 * scale), result.credit[:160], fill=(220, 220, 220), font=font
        )
    return np.asarray(image, dtype=np.uint8).copy()
