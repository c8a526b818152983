"""What every exported object shares: a new series named after the model, and the device.

Each result is a new series (new Series and SOP Instance UIDs) in the source's study. The
patient and study attributes are copied by highdicom from the source data sets handed to
the builders, in memory, at export time; nothing here reads, logs or stores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from highdicom import UID
from highdicom.sr import (
    AlgorithmIdentification,
    Comprehensive3DSR,
    ComprehensiveSR,
    DeviceObserverIdentifyingAttributes,
    MeasurementReport,
    ObservationContext,
    ObserverContext,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from ankle_core.export import codes as ac

__all__ = [
    "MANUFACTURER",
    "NOT_FOR_DIAGNOSTIC_USE",
    "ResultSeries",
    "algorithm_id",
    "device_uid",
    "filing_view",
    "laterality_of",
    "measurement_report_sr",
    "new_result_series",
    "observation_context",
    "split_model",
]

MANUFACTURER = "ankle-fracture-workbench"
NOT_FOR_DIAGNOSTIC_USE = "NOT FOR DIAGNOSTIC USE"
_LO_MAX = 64
#: Type 2 patient and study attributes every result copies from its source (may be empty).
_FILING_ATTRIBUTES = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)


@dataclass(frozen=True)
class ResultSeries:
    """Identity of one exported result series.

    Attributes:
        series_uid: a fresh Series Instance UID.
        sop_uid: a fresh SOP Instance UID for the series' single object.
        series_number: Series Number (900 and up keeps results after the source series).
        description: Series Description, ``"AI <model> <version>[ <suffix>]"`` (64 chars max).
    """

    series_uid: str
    sop_uid: str
    series_number: int
    description: str


def new_result_series(model: str, series_number: int, suffix: str = "") -> ResultSeries:
    """Fresh UIDs and a Series Description naming the model and its version.

    Args:
        model: ``"name version"``, as the pipelines report it.
        series_number: Series Number to give the result.
        suffix: appended to the description (``"overlay"``, ``"regions"``).

    Returns:
        The series identity.

    >>> new_result_series("lmaf-classifier-mobilenetv2 0.1.0", 901).description
    'AI lmaf-classifier-mobilenetv2 0.1.0'
    """
    description = " ".join(part for part in ("AI", model, suffix) if part)
    return ResultSeries(
        series_uid=str(UID()),
        sop_uid=str(UID()),
        series_number=series_number,
        description=description[:_LO_MAX],
    )


def split_model(model: str) -> tuple[str, str]:
    """``"name version"`` -> ``(name, version)``; the version is ``"unknown"`` when absent.

    >>> split_model("ct-fracture-mobilenet3d 0.1.0")
    ('ct-fracture-mobilenet3d', '0.1.0')
    """
    name, _, version = model.strip().rpartition(" ")
    if not name:
        return version, "unknown"
    return name, version


def algorithm_id(model: str) -> AlgorithmIdentification:
    """The SR algorithm identification (TID 4019) of a ``"name version"`` model."""
    name, version = split_model(model)
    return AlgorithmIdentification(name=name, version=version)


def device_uid(model: str) -> str:
    """A stable UID for the model as an SR device observer (same model, same UID)."""
    return str(generate_uid(entropy_srcs=[MANUFACTURER, model]))


def laterality_of(source: Dataset) -> str | None:
    """The source image's laterality (``"R"`` or ``"L"``), from Laterality or ImageLaterality.

    Args:
        source: the source image's data set.

    Returns:
        ``"R"``, ``"L"`` or None when the header does not say.
    """
    for keyword in ("Laterality", "ImageLaterality"):
        value = str(source.get(keyword, "") or "").strip().upper()
        if value in ("R", "L"):
            return value
    return None


def observation_context(model: str) -> ObservationContext:
    """The SR observation context: the model as the observing device (TID 1004).

    Args:
        model: ``"name version"``.

    Returns:
        The context (device UID stable per model, name, manufacturer, model name).
    """
    name, version = split_model(model)
    device = DeviceObserverIdentifyingAttributes(
        uid=device_uid(model),
        name=name,
        manufacturer_name=MANUFACTURER,
        model_name=f"{name} {version}",
    )
    return ObservationContext(
        observer_device_context=ObserverContext(
            observer_type=codes.DCM.Device, observer_identifying_attributes=device
        )
    )


SRT = TypeVar("SRT", ComprehensiveSR, Comprehensive3DSR)


def measurement_report_sr(
    sr_class: type[SRT],
    evidence: Sequence[Dataset],
    groups: Sequence[Any],
    model: str,
    series: ResultSeries,
) -> SRT:
    """A draft (not final, not verified) measurement report (TID 1500) written by ``model``.

    Every SR writer ends here, so they all carry the same observer, procedure, series
    identity, manufacturer and private coding scheme.

    Args:
        sr_class: ``ComprehensiveSR`` (2D regions) or ``Comprehensive3DSR`` (3D ones).
        evidence: the source data sets (export views; see :mod:`ankle_core.export.header`).
        groups: the report's measurement groups.
        model: the observing model, ``"name version"``.
        series: the new result series.
    """
    report = MeasurementReport(
        observation_context=observation_context(model),
        procedure_reported=ac.IMAGING_PROCEDURE,
        imaging_measurements=list(groups),
    )
    sr = sr_class(
        evidence=list(evidence),
        content=report[0],
        series_instance_uid=series.series_uid,
        series_number=series.series_number,
        sop_instance_uid=series.sop_uid,
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,
        is_verified=False,
    )
    sr.SeriesDescription = series.description
    ac.declare_private_scheme(sr)
    return sr


def filing_view(source: Dataset) -> Dataset:
    """The source, or a view of it with empty values for missing Type 2 patient/study fields.

    Results copy the patient and study attributes from their source, and highdicom needs
    each of :data:`_FILING_ATTRIBUTES` present (Type 2: present, possibly empty). A source
    lacking some gets a new data set that shares its elements (none is changed) plus the
    missing ones, empty; the source itself is never altered.

    Args:
        source: the source image's data set.

    Returns:
        ``source`` itself when complete, else the view.
    """
    missing = [keyword for keyword in _FILING_ATTRIBUTES if keyword not in source]
    if not missing:
        return source
    view = Dataset()
    for element in source:
        view.add(element)
    if hasattr(source, "file_meta"):
        view.file_meta = source.file_meta
    for keyword in missing:
        setattr(view, keyword, "")
    return view
