"""A DICOMweb query as a batch run: ``python -m ankle_core.pacs batch radiograph|ct``.

The studies holding the kind's modality (CR/DX for radiographs, CT for CT) in a date range,
or one study, are searched (QIDO-RS) through :class:`~ankle_core.pacs.PacsClient`; their
matching series are retrieved once (WADO-RS), **de-identified** (PS3.15,
:func:`~ankle_core.io.deid.deidentify`) and staged as Part 10 files under a folder the
engine's workers read; a manifest of them (:func:`~ankle_core.scale.sources.write_manifest`)
then goes to ``python -m ankle_core.inference radiograph|ct --manifest``, with either engine
(``--engine ray`` included). The PACS credentials stay with this process. A staged series is
named by digests of its Study and Series Instance UIDs (never in clear) and is not retrieved
again by a later run, so ``--resume`` finds the same files, hence the same
``input_sha256``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ankle_core.errors import InvalidInputError, PacsError
from ankle_core.scale.sources import CaseList

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from ankle_core.pacs.summaries import SeriesSummary, StudySummary

__all__ = ["MODALITIES", "DicomwebQuery", "StudySource", "stage_dicomweb"]

logger = logging.getLogger(__name__)

#: The modalities searched for each kind of case.
MODALITIES: dict[str, tuple[str, ...]] = {"radiograph": ("CR", "DX"), "ct": ("CT",)}


@dataclass(frozen=True)
class DicomwebQuery:
    """Which studies a DICOMweb run reads (criteria combine; at least one is needed).

    Attributes:
        date_from: first study date ``YYYYMMDD`` (inclusive), or None.
        date_to: last study date, or None.
        study_uid: one Study Instance UID, or None.
        limit: most studies per modality searched.
    """

    date_from: str | None = None
    date_to: str | None = None
    study_uid: str | None = None
    limit: int = 1000


class StudySource(Protocol):
    """What :func:`stage_dicomweb` uses of :class:`~ankle_core.pacs.PacsClient`."""

    def search_studies(
        self,
        *,
        date_from: str | None = None,
        date_to: str | None = None,
        modality: str | None = None,
        study_uid: str | None = None,
        limit: int = 100,
    ) -> list[StudySummary]: ...

    def list_series(self, study_uid: str) -> list[SeriesSummary]: ...

    def retrieve_series_noting(
        self, study_uid: str, series_uid: str
    ) -> tuple[list[Dataset], list[str]]: ...


def _write_series(datasets: Sequence[Dataset], folder: Path, stem: str) -> None:
    """De-identify a series and write it as Part 10 files into ``folder``, atomically."""
    from ankle_core.io.deid import deidentify
    from ankle_core.pacs.client import dataset_bytes

    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    uid_map: dict[str, str] = {}  # one map per series: its slices keep agreeing UIDs
    for k, ds in enumerate(datasets, start=1):
        (tmp / f"{stem}-{k:04d}.dcm").write_bytes(dataset_bytes(deidentify(ds, uid_map=uid_map)))
    os.replace(tmp, folder)


def stage_dicomweb(
    client: StudySource, query: DicomwebQuery, kind: str, folder: str | Path
) -> CaseList:
    """Retrieve the series a query finds, de-identified, as case files under ``folder``.

    Args:
        client: a :class:`~ankle_core.pacs.PacsClient` (or anything with its search, list
            and retrieve methods).
        query: the study criteria.
        kind: ``"radiograph"`` (each CR/DX instance is a case) or ``"ct"`` (each CT
            series is a case: a folder of slices).
        folder: the staging folder (on a shared file system for a multi-node cluster).

    Returns:
        The staged cases; their names are the staged file or folder names (digests of the
        UIDs).

    Raises:
        InvalidInputError: an unknown kind, or a query without any criterion.
        PacsError: the server cannot be reached or refuses the login (a series that cannot
            be retrieved is skipped with a warning instead).
    """
    from ankle_core.pacs.summaries import uid_digest

    if kind not in MODALITIES:
        raise InvalidInputError(f"Unknown kind {kind!r}: use 'radiograph' or 'ct'.")
    if not (query.date_from or query.date_to or query.study_uid):
        raise InvalidInputError(
            "A DICOMweb run needs a study date range or a Study Instance UID, not the whole PACS."
        )
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    studies: dict[str, StudySummary] = {}
    for modality in MODALITIES[kind]:
        for study in client.search_studies(
            date_from=query.date_from, date_to=query.date_to, modality=modality,
            study_uid=query.study_uid, limit=query.limit,
        ):  # fmt: skip
            studies.setdefault(study.study_uid, study)
    cases: list[Path] = []
    retrieved = reused = skipped = 0
    for study_uid in studies:
        for series in client.list_series(study_uid):
            if series.kind != kind:
                continue
            stem = f"{uid_digest(study_uid)}-{uid_digest(series.series_uid)}"
            target = root / stem
            if target.is_dir():
                reused += 1
            else:
                try:
                    datasets, notes = client.retrieve_series_noting(study_uid, series.series_uid)
                except PacsError:
                    skipped += 1  # the client logged why; the run goes on
                    continue
                if notes:
                    logger.warning("series %s: %d instance(s) skipped", stem, len(notes))
                _write_series(datasets, target, stem)
                retrieved += 1
            if kind == "ct":
                cases.append(target)
            else:
                cases.extend(sorted(target.glob("*.dcm")))
    logger.info(
        "DICOMweb: %d studies, %d series retrieved, %d already staged, %d skipped",
        len(studies), retrieved, reused, skipped,
    )  # fmt: skip
    return CaseList(tuple(cases), tuple(c.name for c in cases))
