"""A DIMSE fallback for a PACS without DICOMweb: C-FIND search, C-GET retrieve, C-STORE send.

Built on ``pynetdicom``; it offers the same methods as :class:`~ankle_core.pacs.PacsClient`
that the round trip uses (``search_studies``, ``require_study``, ``list_series``,
``retrieve_series_noting``, ``store``), so :func:`~ankle_core.pacs.retrieve_study` and
:func:`~ankle_core.pacs.send_results` work with either. DIMSE has no passwords: the PACS
admits callers by AE title (and usually host), so only AE titles are configured here.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    EnhancedCTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
)

from ankle_core.errors import PacsError
from ankle_core.pacs.summaries import (
    SeriesSummary,
    StudySummary,
    series_summary,
    study_summary,
    uid_digest,
)

__all__ = ["DimseClient", "DimseConnection"]

logger = logging.getLogger(__name__)

_PENDING = (0xFF00, 0xFF01)
_RETRIEVABLE = (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    CTImageStorage,
    EnhancedCTImageStorage,
)


@dataclass(frozen=True)
class DimseConnection:
    """Where and as whom to reach a DIMSE PACS.

    Attributes:
        host: host name or address.
        port: DICOM port.
        called_aet: the PACS's AE title.
        calling_aet: this application's AE title (the PACS must know it).
        timeout_s: timeout of the connection, the association and each message, seconds.
    """

    host: str
    port: int
    called_aet: str
    calling_aet: str = "ANKLE"
    timeout_s: float = 20.0

    def __post_init__(self) -> None:
        for aet in (self.called_aet, self.calling_aet):
            if not 0 < len(aet) <= 16:
                raise PacsError("An AE title has 1 to 16 characters.")
        if not 0 < self.port < 65536:
            raise PacsError("The DICOM port must lie between 1 and 65535.")

    @property
    def where(self) -> str:
        """``AET@host:port``, for messages."""
        return f"{self.called_aet}@{self.host}:{self.port}"


def _date(value: dt.date | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    return value.replace("-", "")


def _json(identifier: Dataset) -> dict[str, Any]:
    out: dict[str, Any] = identifier.to_json_dict()
    return out


class DimseClient:
    """C-FIND, C-GET and C-STORE against one PACS.

    Args:
        connection: host, port, AE titles and timeout.
    """

    def __init__(self, connection: DimseConnection) -> None:
        self.connection = connection

    def _ae(self) -> AE:
        ae = AE(ae_title=self.connection.calling_aet)
        timeout = self.connection.timeout_s
        ae.connection_timeout = timeout
        ae.acse_timeout = timeout
        ae.dimse_timeout = timeout
        ae.network_timeout = timeout
        return ae

    def _check_reachable(self) -> None:
        """Fail early, with the right message, when nothing listens or nothing answers."""
        where = self.connection.where
        try:
            with socket.create_connection(
                (self.connection.host, self.connection.port), timeout=self.connection.timeout_s
            ):
                pass
        except TimeoutError:
            raise PacsError(
                f"The PACS at {where} did not answer within {self.connection.timeout_s:g} s."
            ) from None
        except OSError:
            raise PacsError(
                f"The PACS at {where} cannot be reached: check the host, the port and that "
                "the server is running."
            ) from None

    @contextmanager
    def _association(self, ae: AE, **kwargs: Any) -> Iterator[Association]:
        self._check_reachable()
        assoc = ae.associate(
            self.connection.host,
            self.connection.port,
            ae_title=self.connection.called_aet,
            **kwargs,
        )
        if not assoc.is_established:
            why = "rejected" if assoc.is_rejected else "did not accept"
            raise PacsError(
                f"The PACS at {self.connection.where} {why} the association: check that it "
                f"knows this application's AE title ({self.connection.calling_aet})."
            )
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()

    def _find(self, query: Dataset) -> list[Dataset]:
        ae = self._ae()
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        found: list[Dataset] = []
        with self._association(ae) as assoc:
            for status, identifier in assoc.send_c_find(
                query, StudyRootQueryRetrieveInformationModelFind
            ):
                if not status:
                    raise PacsError(
                        f"The PACS at {self.connection.where} did not answer the search within "
                        f"{self.connection.timeout_s:g} s."
                    )
                code = int(status.Status)
                if code in _PENDING and identifier is not None:
                    found.append(identifier)
                elif code != 0x0000:
                    raise PacsError(
                        f"The PACS at {self.connection.where} refused the search "
                        f"(status 0x{code:04X})."
                    )
        return found

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
        """Search studies (C-FIND, study root); criteria as :meth:`PacsClient.search_studies`.

        Returns:
            Summaries without patient identity (at most ``limit``).

        Raises:
            PacsError: unreachable server, rejected association or refused search.
        """
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = study_uid or ""
        query.PatientID = patient_id or ""
        query.AccessionNumber = accession_number or ""
        query.StudyDate = f"{_date(date_from)}-{_date(date_to)}" if (date_from or date_to) else ""
        query.ModalitiesInStudy = modality or ""
        query.StudyDescription = ""
        query.NumberOfStudyRelatedSeries = ""
        query.NumberOfStudyRelatedInstances = ""
        found = self._find(query)
        logger.info("C-FIND study search: %d result(s)", len(found))
        return [study_summary(_json(item)) for item in found[:limit]]

    def require_study(self, study_uid: str) -> StudySummary:
        """The study with this UID, or a PacsError saying the PACS does not hold it."""
        found = self.search_studies(study_uid=study_uid, limit=2)
        if not found:
            raise PacsError(
                f"The PACS at {self.connection.where} has no study with this Study Instance "
                f"UID (digest {uid_digest(study_uid)})."
            )
        return found[0]

    def list_series(self, study_uid: str) -> list[SeriesSummary]:
        """List a study's series (C-FIND, series level), sorted by series number."""
        query = Dataset()
        query.QueryRetrieveLevel = "SERIES"
        query.StudyInstanceUID = study_uid
        query.SeriesInstanceUID = ""
        query.Modality = ""
        query.SeriesDescription = ""
        query.SeriesNumber = ""
        query.NumberOfSeriesRelatedInstances = ""
        summaries = [series_summary(_json(item)) for item in self._find(query)]
        return sorted(summaries, key=lambda s: (s.number is None, s.number or 0, s.series_uid))

    def retrieve_series(self, study_uid: str, series_uid: str) -> list[Dataset]:
        """Retrieve a series' CR, DX and CT instances (C-GET)."""
        return self.retrieve_series_noting(study_uid, series_uid)[0]

    def retrieve_series_noting(
        self, study_uid: str, series_uid: str
    ) -> tuple[list[Dataset], list[str]]:
        """Retrieve a series (C-GET), noting instances the PACS failed to send.

        Only CR, DX and CT image storage is negotiated (what the pipelines read), in
        uncompressed transfer syntaxes; the PACS transcodes compressed images if it can.

        Returns:
            ``(datasets, notes)``.

        Raises:
            PacsError: unreachable server, rejected association, or nothing retrieved.
        """
        ae = self._ae()
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
        syntaxes = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
        for sop_class in _RETRIEVABLE:
            ae.add_requested_context(sop_class, syntaxes)
        roles = [build_role(sop_class, scp_role=True) for sop_class in _RETRIEVABLE]
        received: list[Dataset] = []

        def on_store(event: evt.Event) -> int:
            ds = event.dataset
            ds.file_meta = event.file_meta
            received.append(ds)
            return 0x0000

        query = Dataset()
        query.QueryRetrieveLevel = "SERIES"
        query.StudyInstanceUID = study_uid
        query.SeriesInstanceUID = series_uid
        failed = 0
        with self._association(
            ae, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)]
        ) as assoc:
            for status, _identifier in assoc.send_c_get(
                query, StudyRootQueryRetrieveInformationModelGet
            ):
                if not status:
                    raise PacsError(
                        f"The PACS at {self.connection.where} did not answer the retrieval "
                        f"within {self.connection.timeout_s:g} s."
                    )
                if int(status.Status) not in _PENDING:
                    failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
        notes = [f"{failed} instance(s) skipped: the PACS could not send them."] if failed else []
        if not received:
            raise PacsError("The series holds no CR, DX or CT instance that could be retrieved.")
        return received, notes

    def store(self, datasets: Sequence[Dataset], study_uid: str | None = None) -> list[str]:
        """Send data sets (C-STORE) and return their SOP Instance UIDs.

        Args:
            datasets: the result objects (each with file meta giving its transfer syntax).
            study_uid: unused (DIMSE files objects by their own Study Instance UID).

        Returns:
            SOP Instance UIDs, in order.

        Raises:
            PacsError: unreachable server, rejected association or a refused object.
        """
        if not datasets:
            return []
        ae = self._ae()
        contexts = {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets}
        for sop_class, syntax in sorted(contexts):
            ae.add_requested_context(sop_class, syntax)
        uids: list[str] = []
        with self._association(ae) as assoc:
            for ds in datasets:
                status = assoc.send_c_store(ds)
                code = int(status.Status) if status else -1
                if code not in (0x0000, 0xB000, 0xB007, 0xB006):
                    raise PacsError(
                        f"The PACS at {self.connection.where} refused a result object "
                        f"(status {'none' if code < 0 else f'0x{code:04X}'})."
                    )
                uids.append(str(ds.SOPInstanceUID))
        logger.info("C-STORE sent %d object(s)", len(uids))
        return uids
