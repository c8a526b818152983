"""A DICOMweb client (QIDO-RS search, WADO-RS retrieve, STOW-RS store) with clear errors.

Built on ``dicomweb-client``. Every network failure becomes a
:class:`~ankle_core.errors.PacsError` whose message says what happened (no answer within
the timeout, refused login, unknown study) without credentials, query strings or patient
identifiers, and without chaining the original exception (whose text would carry the URL).

Example (against a running server)::

    client = PacsClient(PacsConnection.from_settings(Settings.from_env()))
    studies = client.search_studies(patient_id="12345", modality="CR")
    series = client.list_series(studies[0].study_uid)
    datasets = client.retrieve_series(studies[0].study_uid, series[0].series_uid)
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from ankle_core.errors import PacsError
from ankle_core.pacs.connection import PacsConnection, build_session, display_url
from ankle_core.pacs.summaries import (
    SeriesSummary,
    StudySummary,
    series_summary,
    study_summary,
    uid_digest,
)

__all__ = ["PacsClient", "dataset_bytes"]

logger = logging.getLogger(__name__)

_STUDY_FIELDS = ("StudyDate", "ModalitiesInStudy", "StudyDescription")
_SERIES_FIELDS = ("Modality", "SeriesDescription", "SeriesNumber")


def dataset_bytes(dataset: Dataset) -> bytes:
    """Serialise a retrieved data set to DICOM Part 10 bytes (what the readers accept).

    Args:
        dataset: a data set as returned by WADO-RS (with its file meta information).

    Returns:
        The file's bytes, with preamble and file meta. ``dataset`` is not changed.
    """
    if any(" or " in str(element.VR) for element in dataset.iterall()):
        # Writing resolves ambiguous VRs ("OB or OW") in place; never touch the caller's.
        dataset = copy.deepcopy(dataset)
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def _date(value: dt.date | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    return value.replace("-", "")


class PacsClient:
    """Search, retrieve and store over DICOMweb.

    Args:
        connection: server address, credentials and timeout.
    """

    def __init__(self, connection: PacsConnection) -> None:
        self.connection = connection
        self._where = display_url(connection.url)
        self._web = DICOMwebClient(
            connection.url,
            session=build_session(connection),
            timeout=connection.timeout_s,
        )
        # No silent retries: a dead server must fail within one timeout, not after five
        # exponentially spaced attempts.
        self._web.set_http_retry_params(retry=False)

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """Turn network and HTTP failures into PacsError with a plain message."""
        try:
            yield
        except requests.exceptions.Timeout:
            message = (
                f"The PACS at {self._where} did not answer within "
                f"{self.connection.timeout_s:g} s while {action}."
            )
        except requests.exceptions.SSLError:
            message = (
                f"The PACS at {self._where} presented a certificate this server does not "
                f"trust while {action}: give its CA in ANKLE_PACS_CA_BUNDLE."
            )
        except requests.exceptions.ConnectionError:
            message = (
                f"The PACS at {self._where} cannot be reached while {action}: check the "
                "address and that the server is running."
            )
        except requests.exceptions.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in (401, 403):
                message = (
                    f"The PACS at {self._where} refused the login (HTTP {status}): check the "
                    "user name and password (or token) in Settings."
                )
            elif status == 404:
                message = f"The PACS at {self._where} has no such object ({action})."
            else:
                message = f"The PACS at {self._where} answered HTTP {status} while {action}."
        except requests.exceptions.RequestException as exc:
            message = f"The request to the PACS failed while {action} ({type(exc).__name__})."
        except (InvalidDicomError, ValueError, TypeError, KeyError, EOFError) as exc:
            message = (
                f"The PACS sent an answer that is not valid DICOMweb while {action} "
                f"({type(exc).__name__})."
            )
        else:
            return
        logger.warning("%s", message)
        raise PacsError(message) from None

    def search_studies(
        self,
        *,
        patient_id: str | None = None,
        accession_number: str | None = None,
        date_from: dt.date | str | None = None,
        date_to: dt.date | str | None = None,
        modality: str | None = None,
        study_uid: str | None = None,
        limit: int = 100,
    ) -> list[StudySummary]:
        """Search studies (QIDO-RS); every criterion is optional and they combine (AND).

        Args:
            patient_id: exact Patient ID.
            accession_number: exact Accession Number.
            date_from: first study date (inclusive), a date or ``YYYYMMDD``.
            date_to: last study date (inclusive).
            modality: a modality in the study, e.g. ``"CR"`` or ``"CT"``.
            study_uid: a Study Instance UID.
            limit: most studies returned.

        Returns:
            Summaries without patient identity, as the server orders them.

        Raises:
            PacsError: when the server cannot be reached or refuses the login.
        """
        filters: dict[str, Any] = {}
        if patient_id:
            filters["PatientID"] = patient_id
        if accession_number:
            filters["AccessionNumber"] = accession_number
        if date_from or date_to:
            filters["StudyDate"] = f"{_date(date_from)}-{_date(date_to)}"
        if modality:
            filters["ModalitiesInStudy"] = modality
        if study_uid:
            filters["StudyInstanceUID"] = study_uid
        with self._translate("searching studies"):
            found = self._web.search_for_studies(
                search_filters=filters, fields=list(_STUDY_FIELDS), limit=limit
            )
        logger.info("QIDO-RS study search: %d result(s)", len(found))
        return [study_summary(item) for item in found]

    def require_study(self, study_uid: str) -> StudySummary:
        """The study with this UID, or a PacsError saying the PACS does not hold it.

        Args:
            study_uid: Study Instance UID.

        Returns:
            Its summary.

        Raises:
            PacsError: unknown study, unreachable server or refused login.
        """
        found = self.search_studies(study_uid=study_uid, limit=2)
        if not found:
            raise PacsError(
                f"The PACS at {self._where} has no study with this Study Instance UID "
                f"(digest {uid_digest(study_uid)})."
            )
        return found[0]

    def list_series(self, study_uid: str) -> list[SeriesSummary]:
        """List a study's series (QIDO-RS), sorted by series number.

        Args:
            study_uid: Study Instance UID.

        Returns:
            One summary per series.

        Raises:
            PacsError: when the server cannot be reached or refuses the login.
        """
        with self._translate("listing the study's series"):
            found = self._web.search_for_series(
                study_instance_uid=study_uid, fields=list(_SERIES_FIELDS)
            )
        summaries = [series_summary(item) for item in found]
        return sorted(summaries, key=lambda s: (s.number is None, s.number or 0, s.series_uid))

    def list_instances(self, study_uid: str, series_uid: str) -> list[str]:
        """The SOP Instance UIDs of a series (QIDO-RS).

        Args:
            study_uid: Study Instance UID.
            series_uid: Series Instance UID.

        Returns:
            SOP Instance UIDs.
        """
        with self._translate("listing the series' instances"):
            found = self._web.search_for_instances(
                study_instance_uid=study_uid, series_instance_uid=series_uid
            )
        uids = []
        for item in found:
            values = item.get("00080018", {}).get("Value", [])
            if values:
                uids.append(str(values[0]))
        return uids

    def retrieve_series(self, study_uid: str, series_uid: str) -> list[Dataset]:
        """Retrieve every instance of a series (WADO-RS), as stored (any transfer syntax).

        Instances the PACS sends malformed are skipped (see :meth:`retrieve_series_noting`).

        Args:
            study_uid: Study Instance UID.
            series_uid: Series Instance UID.

        Returns:
            The data sets, in memory only (they carry patient identity: never store them).

        Raises:
            PacsError: unreachable server, refused login, or a series with no readable
                instance.
        """
        return self.retrieve_series_noting(study_uid, series_uid)[0]

    def retrieve_series_noting(
        self, study_uid: str, series_uid: str
    ) -> tuple[list[Dataset], list[str]]:
        """Retrieve a series, saying which instances could not be decoded.

        When the multipart answer cannot be decoded as a whole (one malformed instance),
        the instances are retrieved one by one and the unreadable ones are skipped.

        Args:
            study_uid: Study Instance UID.
            series_uid: Series Instance UID.

        Returns:
            ``(datasets, notes)``: the decoded data sets (memory only) and one plain-words
            note per skipped instance.

        Raises:
            PacsError: unreachable server, refused login, or a series with no readable
                instance.
        """
        try:
            with self._translate("retrieving a series"):
                return list(self._web.retrieve_series(study_uid, series_uid)), []
        except PacsError as exc:
            if "not valid DICOMweb" not in str(exc):
                raise
        datasets: list[Dataset] = []
        notes: list[str] = []
        for index, sop_uid in enumerate(self.list_instances(study_uid, series_uid), start=1):
            try:
                with self._translate("retrieving an instance"):
                    datasets.append(self._web.retrieve_instance(study_uid, series_uid, sop_uid))
            except PacsError as exc:
                if "not valid DICOMweb" not in str(exc):
                    raise
                notes.append(f"instance {index} skipped: the PACS sent it malformed.")
        if not datasets:
            raise PacsError("The series holds no instance that could be retrieved.")
        return datasets, notes

    def store(self, datasets: Sequence[Dataset], study_uid: str | None = None) -> list[str]:
        """Store data sets (STOW-RS) and return their SOP Instance UIDs.

        Args:
            datasets: the objects to store (e.g. SR, Secondary Capture, Segmentation).
            study_uid: the study they belong to (sent in the STOW-RS URL), or None.

        Returns:
            SOP Instance UIDs of the stored objects, in order.

        Raises:
            PacsError: when the server refuses them or cannot be reached.
        """
        if not datasets:
            return []
        # Send proper Part 10 files (preamble and file meta), whatever the objects were built
        # as; the PACS serves back what it was given.
        files = [pydicom.dcmread(io.BytesIO(dataset_bytes(ds))) for ds in datasets]
        with self._translate("storing results"):
            answer = self._web.store_instances(files, study_instance_uid=study_uid)
        failed = answer.get("FailedSOPSequence") if answer is not None else None
        if failed:
            raise PacsError(f"The PACS refused {len(failed)} of {len(datasets)} result objects.")
        uids = [str(ds.SOPInstanceUID) for ds in datasets]
        logger.info("STOW-RS stored %d object(s)", len(uids))
        return uids
