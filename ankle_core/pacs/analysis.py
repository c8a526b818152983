"""The PACS round trip: retrieve a study, run the matching pipeline, build and send results.

:func:`retrieve_study` pulls the study's radiographs (CR, DX) and CT series;
:func:`analyse_images` runs the radiograph pipeline on each image and the CT pipeline on
each series; :func:`result_objects` builds the DICOM results (:mod:`ankle_core.export`) and
:func:`send_results` stores them with STOW-RS. Pipelines are passed in as factories, so a
model is loaded only when the study holds something for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from ankle_core.config import ReadLimits
from ankle_core.errors import AnkleError, PacsError
from ankle_core.export import export_ct, export_radiograph
from ankle_core.pacs.loading import SourceImage, SourceVolume, load_radiographs, load_volume
from ankle_core.pacs.summaries import SeriesSummary, StudySummary

if TYPE_CHECKING:
    from ankle_core.inference.ct import CtPipeline, CtResult
    from ankle_core.inference.radiograph import RadiographPipeline, RadiographResult

__all__ = [
    "CtOutcome",
    "RadiographOutcome",
    "SentObject",
    "StudyAnalysis",
    "StudyImages",
    "StudySource",
    "analyse_images",
    "describe_ct",
    "describe_radiograph",
    "result_objects",
    "retrieve_study",
    "send_results",
]

logger = logging.getLogger(__name__)


class StudySource(Protocol):
    """What the round trip needs from a PACS client (DICOMweb ``PacsClient`` or DIMSE)."""

    def require_study(self, study_uid: str) -> StudySummary: ...

    def list_series(self, study_uid: str) -> list[SeriesSummary]: ...

    def retrieve_series_noting(
        self, study_uid: str, series_uid: str
    ) -> tuple[list[Dataset], list[str]]: ...

    def store(self, datasets: Sequence[Dataset], study_uid: str | None = None) -> list[str]: ...


@dataclass(frozen=True)
class StudyImages:
    """What a study holds that the pipelines can read.

    Attributes:
        radiographs: one entry per readable CR/DX image.
        volumes: one entry per readable CT series.
        notes: plain-words notes on what was skipped and why.
    """

    radiographs: tuple[SourceImage, ...]
    volumes: tuple[SourceVolume, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class RadiographOutcome:
    """One analysed radiograph.

    Attributes:
        source: the image and its original data set.
        result: the radiograph pipeline's result.
        saliency: (H, W) float32 in [0, 1] (fragments' Grad-CAM), or None.
    """

    source: SourceImage
    result: RadiographResult
    saliency: npt.NDArray[np.float32] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CtOutcome:
    """One analysed CT series.

    Attributes:
        source: the volume and its original slices.
        result: the CT pipeline's result.
    """

    source: SourceVolume
    result: CtResult


@dataclass(frozen=True)
class StudyAnalysis:
    """Everything analysed in a study.

    Attributes:
        radiographs: per radiograph.
        cts: per CT series.
        notes: what was skipped and why.
    """

    radiographs: tuple[RadiographOutcome, ...]
    cts: tuple[CtOutcome, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class SentObject:
    """One result object stored in the PACS.

    Attributes:
        kind: ``"SR"``, ``"SC"`` or ``"SEG"``.
        sop_uid: its SOP Instance UID.
        series_description: its Series Description (``"AI <model> <version> ..."``).
        source_label: the image or series it describes.
    """

    kind: str
    sop_uid: str
    series_description: str
    source_label: str


def retrieve_study(
    client: StudySource,
    study_uid: str,
    *,
    series_uids: Sequence[str] | None = None,
    limits: ReadLimits | None = None,
) -> StudyImages:
    """Retrieve a study's radiographs and CT series and read them.

    Args:
        client: a DICOMweb or DIMSE client.
        study_uid: Study Instance UID.
        series_uids: only these series (default: every series of the study).
        limits: reader limits.

    Returns:
        The readable images and volumes, with notes on what was skipped.

    Raises:
        PacsError: unknown study, unreachable server, refused login, or a study with no
            image the pipelines can read.
    """
    client.require_study(study_uid)
    notes: list[str] = []
    images: list[SourceImage] = []
    volumes: list[SourceVolume] = []
    for series in client.list_series(study_uid):
        if series_uids is not None and series.series_uid not in series_uids:
            continue
        label = f"series #{series.number if series.number is not None else '?'} {series.modality}"
        if series.kind == "other":
            notes.append(f"{label} skipped: not a radiograph (CR, DX) or CT series.")
            continue
        datasets, skipped = client.retrieve_series_noting(study_uid, series.series_uid)
        notes.extend(f"{label} {note}" for note in skipped)
        if series.kind == "radiograph":
            found, more = load_radiographs(datasets, label, limits)
            images.extend(found)
        else:
            volume, more = load_volume(datasets, label, limits)
            if volume is not None:
                volumes.append(volume)
        notes.extend(more)
    if not images and not volumes:
        detail = f" ({'; '.join(notes)})" if notes else ""
        raise PacsError(
            "The study holds no image the pipelines can read: no readable radiograph (CR, DX) "
            f"and no readable CT series{detail}."
        )
    return StudyImages(radiographs=tuple(images), volumes=tuple(volumes), notes=tuple(notes))


def _saliency(
    pipeline: RadiographPipeline, image: SourceImage, result: RadiographResult
) -> npt.NDArray[np.float32] | None:
    if not result.fragments:
        return None
    return np.asarray(pipeline.fragment_saliency(image.radiograph, result), dtype=np.float32)


def _failed(label: str, exc: Exception) -> str:
    """A note for a failed run: the library's own (identifier-free) message, else the type."""
    logger.debug("analysis of %s failed", label, exc_info=True)
    why = str(exc) if isinstance(exc, AnkleError) else type(exc).__name__
    note = f"{label} could not be analysed: {why}"
    logger.warning("%s", note)
    return note


def analyse_images(
    images: StudyImages,
    *,
    radiograph_pipeline: Callable[[], RadiographPipeline] | None,
    ct_pipeline: Callable[[], CtPipeline] | None,
    explain: bool = True,
) -> StudyAnalysis:
    """Run the matching pipeline on every image and series.

    Args:
        images: what :func:`retrieve_study` returned.
        radiograph_pipeline: factory of the radiograph pipeline (called once, only when
            there is a radiograph), or None to skip radiographs.
        ct_pipeline: factory of the CT pipeline, or None to skip CT series.
        explain: compute saliency (radiographs) and Grad-CAM regions (CT).

    Returns:
        The outcomes and notes.
    """
    notes = list(images.notes)
    radiographs: list[RadiographOutcome] = []
    cts: list[CtOutcome] = []
    if images.radiographs:
        if radiograph_pipeline is None:
            notes.append(f"{len(images.radiographs)} radiograph(s) not analysed (no model).")
        else:
            pipeline = radiograph_pipeline()
            for image in images.radiographs:
                try:
                    result = pipeline.run(image.radiograph)
                    saliency = _saliency(pipeline, image, result) if explain else None
                except Exception as exc:
                    notes.append(_failed(image.label, exc))
                    continue
                radiographs.append(RadiographOutcome(image, result, saliency))
    if images.volumes:
        if ct_pipeline is None:
            notes.append(f"{len(images.volumes)} CT series not analysed (no model).")
        else:
            ct = ct_pipeline()
            for volume in images.volumes:
                try:
                    cts.append(CtOutcome(volume, ct.run(volume.volume, explain=explain)))
                except Exception as exc:
                    notes.append(_failed(volume.label, exc))
    return StudyAnalysis(radiographs=tuple(radiographs), cts=tuple(cts), notes=tuple(notes))


def _kind(ds: Dataset) -> str:
    return {"SR": "SR", "SEG": "SEG"}.get(str(ds.get("Modality", "")), "SC")


def result_objects(analysis: StudyAnalysis) -> list[tuple[str, Dataset]]:
    """Build every result object of an analysis.

    Args:
        analysis: what :func:`analyse_images` returned.

    Returns:
        ``(source label, data set)`` pairs: SR and SC per radiograph, SR and SEG per CT.
    """
    objects: list[tuple[str, Dataset]] = []
    for outcome in analysis.radiographs:
        image = outcome.source
        for ds in export_radiograph(
            image.dataset, image.radiograph, outcome.result, outcome.saliency
        ):
            objects.append((image.label, ds))
    for ct in analysis.cts:
        volume = ct.source
        for ds in export_ct(volume.datasets, volume.volume, ct.result):
            objects.append((volume.label, ds))
    return objects


def send_results(client: StudySource, analysis: StudyAnalysis, study_uid: str) -> list[SentObject]:
    """Build the result objects and store them in the study (STOW-RS).

    Args:
        client: a DICOMweb or DIMSE client.
        analysis: what :func:`analyse_images` returned.
        study_uid: the study the sources came from.

    Returns:
        What was stored, in order.

    Raises:
        PacsError: when the PACS refuses the objects or cannot be reached.
    """
    objects = result_objects(analysis)
    uids = client.store([ds for _, ds in objects], study_uid=study_uid)
    return [
        SentObject(_kind(ds), uid, str(ds.get("SeriesDescription", "")), label)
        for (label, ds), uid in zip(objects, uids, strict=True)
    ]


def describe_radiograph(outcome: RadiographOutcome) -> str:
    """One line for a radiograph: label, case call, probability and fragments.

    Args:
        outcome: an analysed radiograph.

    Returns:
        e.g. ``"series #1 CR image 1: LMAF (p_LMAF 0.83); 1 fragment: [1] LMAF p=0.83
        box x 100-180 y 200-260 px"``.
    """
    result = outcome.result
    head = f"{outcome.source.label}: {result.case_call}"
    if result.case_p_lmaf is not None:
        head += f" (p_LMAF {result.case_p_lmaf:.2f})"
    if not result.fragments:
        return head
    parts = [
        f"[{i}] {f.call} p={f.p_lmaf:.2f} box x {f.box.x0:.0f}-{f.box.x1:.0f} "
        f"y {f.box.y0:.0f}-{f.box.y1:.0f} px"
        for i, f in enumerate(result.fragments, start=1)
    ]
    plural = "s" if len(parts) > 1 else ""
    return f"{head}; {len(parts)} fragment{plural}: " + "; ".join(parts)


def describe_ct(outcome: CtOutcome) -> str:
    """One line for a CT series: label, call, probability and region centres.

    Args:
        outcome: an analysed CT series.

    Returns:
        e.g. ``"series #2 CT: fracture (p 0.81); 1 region: [1] centre RAS (-13.2, -11.6,
        9.0) mm, 123 mm3"``; regions are numbered from 1 as in the SR and SEG.
    """
    result = outcome.result
    head = f"{outcome.source.label}: {result.call} (p {result.probability:.2f})"
    if not result.regions:
        return head
    parts = [
        f"[{k}] centre RAS ({r.center_mm[0]:.1f}, {r.center_mm[1]:.1f}, "
        f"{r.center_mm[2]:.1f}) mm, {r.volume_mm3:.0f} mm3"
        for k, r in enumerate(result.regions, start=1)
    ]
    plural = "s" if len(parts) > 1 else ""
    return f"{head}; {len(parts)} region{plural}: " + "; ".join(parts)
