"""Read the exported reports back (highdicom), e.g. to check a round trip or show a result.

The readers understand only reports this package wrote (they match on the codes in
:mod:`ankle_core.export.codes`); values come back as the pipelines' own call strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from highdicom.sr import CodedConcept, Comprehensive3DSR, ComprehensiveSR
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from ankle_core.errors import InvalidInputError
from ankle_core.export import codes as ac

__all__ = [
    "ReportedCt",
    "ReportedFragment",
    "ReportedRadiograph",
    "ReportedRegion",
    "read_ct_report",
    "read_radiograph_report",
]


@dataclass(frozen=True)
class ReportedFragment:
    """One fragment as written in a radiograph SR.

    Attributes:
        polyline: (5, 2) float32 closed polyline, (column, row) pixels of the source image.
        p_lmaf: probability of LMAF.
        detection_score: detection score.
        call: the pipeline's call string (``"LMAF"``, ``"SFO"``, ...).
    """

    polyline: npt.NDArray[np.float32]
    p_lmaf: float
    detection_score: float
    call: str


@dataclass(frozen=True)
class ReportedRadiograph:
    """A radiograph SR's content.

    Attributes:
        fragments: in report order (the pipeline's order).
        case_p_lmaf: the case probability, or None.
        case_call: the case call string.
        no_fragment_found: True when the report carries the "no fragment" finding.
        referenced_sop_uids: SOP Instance UIDs of the source images referenced.
    """

    fragments: tuple[ReportedFragment, ...]
    case_p_lmaf: float | None
    case_call: str
    no_fragment_found: bool
    referenced_sop_uids: tuple[str, ...]


@dataclass(frozen=True)
class ReportedRegion:
    """One CT region as written in a CT SR.

    Attributes:
        identifier: tracking identifier, e.g. ``"Grad-CAM region 1"``.
        center_lps: (x, y, z) patient LPS mm, as stored (SCOORD3D POINT).
        frame_of_reference_uid: the frame the point lives in.
        volume_mm3: region volume in mm3.
        peak: Grad-CAM peak.
    """

    identifier: str
    center_lps: tuple[float, float, float]
    frame_of_reference_uid: str
    volume_mm3: float
    peak: float


@dataclass(frozen=True)
class ReportedCt:
    """A CT SR's content.

    Attributes:
        probability: probability of fracture.
        call: the pipeline's call string.
        regions: in report order (the pipeline's rank order).
        referenced_sop_uids: SOP Instance UIDs of the source slices referenced.
    """

    probability: float
    call: str
    regions: tuple[ReportedRegion, ...]
    referenced_sop_uids: tuple[str, ...]


def _call(value: CodedConcept, table: dict[str, CodedConcept]) -> str:
    for call, code in table.items():
        if code.value == value.value and code.scheme_designator == value.scheme_designator:
            return call
    return str(value.meaning)


def _measure(group: object, name: CodedConcept) -> float | None:
    found = group.get_measurements(name=name)  # type: ignore[attr-defined]
    return float(found[0].value) if found else None


def _evaluation(group: object, name: CodedConcept | object) -> CodedConcept | None:
    found = group.get_qualitative_evaluations(name=name)  # type: ignore[attr-defined]
    return found[0].value if found else None  # type: ignore[no-any-return]


def _has_finding(group: object, value: CodedConcept) -> bool:
    """True when the group holds a CODE item "Finding" (DCM 121071) = ``value``."""
    items = [item for container in group for item in container.get("ContentSequence", [])]  # type: ignore[attr-defined]
    for item in items:
        if item.get("ValueType") != "CODE":
            continue
        name = item.ConceptNameCodeSequence[0]
        code = item.ConceptCodeSequence[0]
        if (name.CodeValue, name.CodingSchemeDesignator) == (
            codes.DCM.Finding.value,
            codes.DCM.Finding.scheme_designator,
        ) and (code.CodeValue, code.CodingSchemeDesignator) == (
            value.value,
            value.scheme_designator,
        ):
            return True
    return False


def _references(ds: Dataset) -> tuple[str, ...]:
    uids = []
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence", []):
        for series in study.get("ReferencedSeriesSequence", []):
            for item in series.get("ReferencedSOPSequence", []):
                uids.append(str(item.ReferencedSOPInstanceUID))
    return tuple(uids)


def read_radiograph_report(ds: Dataset) -> ReportedRadiograph:
    """Read a radiograph Comprehensive SR written by :func:`build_radiograph_sr`.

    Args:
        ds: the SR data set.

    Returns:
        Its fragments, case probability and call.

    Raises:
        InvalidInputError: the data set is not such a report.
    """
    try:
        sr = ComprehensiveSR.from_dataset(ds, copy=True)
        content: Any = sr.content
        fragments = []
        for group in content.get_planar_roi_measurement_groups():
            call = _evaluation(group, ac.FRAGMENT_CALL)
            fragments.append(
                ReportedFragment(
                    polyline=np.asarray(group.roi.value, dtype=np.float32),
                    p_lmaf=float(_measure(group, ac.P_LMAF) or 0.0),
                    detection_score=float(_measure(group, ac.DETECTION_SCORE) or 0.0),
                    call=_call(call, ac.CALL_CODES) if call is not None else "",
                )
            )
        image_group = content.get_image_measurement_groups()[0]
        case_call = _evaluation(image_group, ac.CASE_CALL)
        no_fragment = _has_finding(image_group, ac.NO_FRAGMENT_FOUND)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"This is not a radiograph report of this workbench ({type(exc).__name__})."
        ) from None
    return ReportedRadiograph(
        fragments=tuple(fragments),
        case_p_lmaf=_measure(image_group, ac.CASE_P_LMAF),
        case_call=_call(case_call, ac.CALL_CODES) if case_call is not None else "",
        no_fragment_found=no_fragment,
        referenced_sop_uids=_references(ds),
    )


def read_ct_report(ds: Dataset) -> ReportedCt:
    """Read a CT Comprehensive 3D SR written by :func:`build_ct_sr`.

    Args:
        ds: the SR data set.

    Returns:
        The probability, call and regions.

    Raises:
        InvalidInputError: the data set is not such a report.
    """
    try:
        sr = Comprehensive3DSR.from_dataset(ds, copy=True)
        content: Any = sr.content
        image_group = content.get_image_measurement_groups()[0]
        call = _evaluation(image_group, ac.CT_CALL)
        regions = []
        for group in content.get_volumetric_roi_measurement_groups():
            point = group.roi[0]
            x, y, z = (float(v) for v in point.GraphicData)
            regions.append(
                ReportedRegion(
                    identifier=str(group.tracking_identifier),
                    center_lps=(x, y, z),
                    frame_of_reference_uid=str(point.ReferencedFrameOfReferenceUID),
                    volume_mm3=float(_measure(group, ac.VOLUME) or 0.0),
                    peak=float(_measure(group, ac.GRADCAM_PEAK) or 0.0),
                )
            )
        probability = _measure(image_group, ac.FRACTURE_PROBABILITY)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"This is not a CT report of this workbench ({type(exc).__name__})."
        ) from None
    if probability is None:
        raise InvalidInputError("This CT report carries no fracture probability.")
    return ReportedCt(
        probability=probability,
        call=_call(call, ac.CT_CALL_CODES) if call is not None else "",
        regions=tuple(regions),
        referenced_sop_uids=_references(ds),
    )
