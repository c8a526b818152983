"""The overlay picture as a Secondary Capture, marked not for diagnostic use.

The picture (:func:`~ankle_core.export.overlay_image.render_overlay`) is stored as an RGB
Secondary Capture in a new series of the source's study. Burned In Annotation is ``YES``,
and "NOT FOR DIAGNOSTIC USE" is written both in the pixels and in the Image Comments,
Derivation Description and Series Description. The Source Image Sequence references the
analysed image.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from highdicom.sc import SCImage
from pydicom.dataset import Dataset

from ankle_core.export.header import export_boundary, export_view
from ankle_core.export.series import (
    MANUFACTURER,
    NOT_FOR_DIAGNOSTIC_USE,
    ResultSeries,
    laterality_of,
    new_result_series,
)

__all__ = ["OVERLAY_SC_SERIES_NUMBER", "build_overlay_sc"]

OVERLAY_SC_SERIES_NUMBER = 902


@export_boundary("overlay image (Secondary Capture)")
def build_overlay_sc(
    source: Dataset,
    rgb: npt.NDArray[np.uint8],
    model: str,
    *,
    series: ResultSeries | None = None,
) -> SCImage:
    """Build the Secondary Capture of an overlay picture.

    Args:
        source: the analysed image's original data set (patient and study attributes are
            copied from it in memory; it is not altered).
        rgb: (H, W, 3) uint8 picture, usually the source image's size.
        model: ``"name version"`` of the model whose result is drawn.
        series: the result series' identity; default: a new series
            ``"AI <model> overlay"``, number 902.

    Returns:
        The Secondary Capture data set.
    """
    series = series or new_result_series(model, OVERLAY_SC_SERIES_NUMBER, "overlay")
    reference = export_view(source)
    kwargs: dict[str, object] = {}
    laterality = laterality_of(source)
    if laterality is not None:
        kwargs["laterality"] = laterality
    sc = SCImage.from_ref_dataset(
        ref_dataset=reference,
        pixel_array=np.ascontiguousarray(rgb, dtype=np.uint8),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        # highdicom insists on single-letter values here; the source's own value (possibly
        # compound, such as "AL", or empty) replaces this placeholder below.
        patient_orientation=("L", "F"),
        series_instance_uid=series.series_uid,
        series_number=series.series_number,
        sop_instance_uid=series.sop_uid,
        instance_number=1,
        manufacturer=MANUFACTURER,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        **kwargs,  # type: ignore[arg-type]
    )
    note = f"{NOT_FOR_DIAGNOSTIC_USE}: AI overlay by {model}"[:64]
    sc.PatientOrientation = _orientation(source)
    if laterality is None:
        sc.Laterality = ""  # Type 2C: present, empty when the source does not say
    sc.SeriesDescription = series.description
    sc.BurnedInAnnotation = "YES"
    sc.ImageComments = f"{NOT_FOR_DIAGNOSTIC_USE}. AI result overlay produced by {model}."
    sc.DerivationDescription = note
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.SourceImageSequence = [_source_reference(source)]
    return sc


def _orientation(source: Dataset) -> list[str]:
    """The source's Patient Orientation (two values), or empty when it has none (Type 2C)."""
    value = source.get("PatientOrientation")
    if value is not None and len(value) == 2 and all(str(v) for v in value):
        return [str(v) for v in value]
    return []


def _source_reference(source: Dataset) -> Dataset:
    """A Source Image Sequence item pointing at the analysed image (General Image module)."""
    purpose = Dataset()
    purpose.CodeValue = "121322"
    purpose.CodingSchemeDesignator = "DCM"
    purpose.CodeMeaning = "Source image for image processing operation"
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    item.PurposeOfReferenceCodeSequence = [purpose]
    return item
