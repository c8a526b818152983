"""The PACS round trip over DICOMweb: search, retrieve, analyse and send results back.

:class:`PacsClient` (on ``dicomweb-client``) searches studies (QIDO-RS) by patient ID,
accession number, date range and modality, lists a study's series, retrieves series
(WADO-RS) and stores objects (STOW-RS); every failure is a
:class:`~ankle_core.errors.PacsError` with a plain message. :class:`PacsConnection` holds
the address, credentials (HTTP basic or bearer token, from
:class:`~ankle_core.config.Settings`; never logged) and timeout. :func:`retrieve_study`
reads a study's radiographs and CT series through the de-identifying readers, keeping the
original data sets in memory only (:func:`uids_sha256` and :func:`series_zip` hand them to
code that takes files); :func:`analyse_images` runs the pipelines;
:func:`send_results` stores the DICOM results built by :mod:`ankle_core.export`. The
command line is ``python -m ankle_core.pacs analyse|search|batch`` (:mod:`ankle_core.pacs.cli`;
``batch`` stages a query's series de-identified and runs a batch inference CLI over them,
:func:`~ankle_core.pacs.batch.stage_dicomweb`).
For a PACS without DICOMweb, :class:`DimseClient` (``pynetdicom``: C-FIND, C-GET, C-STORE)
offers the same round trip.
"""

from ankle_core.pacs.analysis import (
    CtOutcome,
    RadiographOutcome,
    SentObject,
    StudyAnalysis,
    StudyImages,
    StudySource,
    analyse_images,
    describe_ct,
    describe_radiograph,
    result_objects,
    retrieve_study,
    send_results,
)
from ankle_core.pacs.client import PacsClient, dataset_bytes
from ankle_core.pacs.connection import PacsConnection, build_session, display_url
from ankle_core.pacs.dimse import DimseClient, DimseConnection
from ankle_core.pacs.handoff import series_zip, uids_sha256
from ankle_core.pacs.loading import SourceImage, SourceVolume, load_radiographs, load_volume
from ankle_core.pacs.summaries import SeriesSummary, StudySummary, uid_digest

__all__ = [
    "CtOutcome",
    "DimseClient",
    "DimseConnection",
    "PacsClient",
    "PacsConnection",
    "RadiographOutcome",
    "SentObject",
    "SeriesSummary",
    "SourceImage",
    "SourceVolume",
    "StudyAnalysis",
    "StudyImages",
    "StudySource",
    "StudySummary",
    "analyse_images",
    "build_session",
    "dataset_bytes",
    "describe_ct",
    "describe_radiograph",
    "display_url",
    "load_radiographs",
    "load_volume",
    "result_objects",
    "retrieve_study",
    "send_results",
    "series_zip",
    "uid_digest",
    "uids_sha256",
]
