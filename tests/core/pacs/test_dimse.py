"""The DIMSE fallback (pynetdicom: C-FIND, C-GET, C-STORE) against a real Orthanc."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pydicom
import pytest
from pydicom.uid import generate_uid

from ankle_core.errors import PacsError
from ankle_core.export import read_radiograph_report
from ankle_core.inference.radiograph import Fragment, RadiographResult
from ankle_core.pacs import (
    DimseClient,
    DimseConnection,
    PacsClient,
    PacsConnection,
    RadiographOutcome,
    StudyAnalysis,
    retrieve_study,
    send_results,
)
from ankle_core.pacs.cli import main
from ankle_core.types import Box2D
from tests.core.pacs.dicom_factory import make_ct_series, phantom_hu, rg3_path
from tests.core.pacs.orthanc import (
    CALLING_AET,
    ORTHANC_AET,
    PASSWORD,
    USER,
    OrthancServer,
    free_port,
    orthanc_available,
    start_orthanc,
)

pytestmark = pytest.mark.pacs


@pytest.fixture(scope="module")
def dimse_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """An Orthanc that also speaks DIMSE, admitting one AE title from 127.0.0.1."""
    missing = orthanc_available()
    if missing:
        pytest.skip(missing)
    server = start_orthanc(tmp_path_factory.mktemp("orthanc-dimse"), dicom=True)
    web = PacsClient(PacsConnection(server.url, USER, PASSWORD))
    web.store([pydicom.dcmread(rg3_path())])
    web.store(make_ct_series(phantom_hu((4, 32, 32)), study_uid=str(generate_uid())))
    try:
        yield server
    finally:
        server.stop()


def _client(server: OrthancServer, calling: str = CALLING_AET) -> DimseClient:
    assert server.dicom_port is not None
    return DimseClient(DimseConnection("127.0.0.1", server.dicom_port, ORTHANC_AET, calling))


def test_c_find_searches_like_qido(dimse_orthanc: OrthancServer) -> None:
    rg3 = pydicom.dcmread(rg3_path(), stop_before_pixels=True)
    client = _client(dimse_orthanc)
    for criterion in (
        {"patient_id": str(rg3.PatientID)},
        {"accession_number": str(rg3.AccessionNumber)},
        {"date_from": "20040801", "date_to": "20040831"},
        {"modality": "CR"},
    ):
        found = client.search_studies(**criterion)  # type: ignore[arg-type]
        assert [s.study_uid for s in found] == [rg3.StudyInstanceUID], criterion
    assert client.search_studies(patient_id="NOBODY") == []
    (series,) = client.list_series(str(rg3.StudyInstanceUID))
    assert series.modality == "CR" and series.kind == "radiograph"
    with pytest.raises(PacsError, match="no study"):
        client.require_study("1.2.3.4")


def test_c_get_retrieves_identical_pixels_and_reads_the_study(
    dimse_orthanc: OrthancServer,
) -> None:
    rg3 = pydicom.dcmread(rg3_path())
    client = _client(dimse_orthanc)
    (got,) = client.retrieve_series(str(rg3.StudyInstanceUID), str(rg3.SeriesInstanceUID))
    assert hashlib.sha256(got.PixelData).digest() == hashlib.sha256(rg3.PixelData).digest()
    images = retrieve_study(client, str(rg3.StudyInstanceUID))
    assert len(images.radiographs) == 1 and images.radiographs[0].radiograph.shape == (1760, 1760)


def test_c_store_sends_results_back(dimse_orthanc: OrthancServer) -> None:
    rg3 = pydicom.dcmread(rg3_path())
    client = _client(dimse_orthanc)
    images = retrieve_study(client, str(rg3.StudyInstanceUID))
    result = RadiographResult(
        (Fragment(Box2D(10, 20, 30, 40), None, 0.9, 0.8, "LMAF"),), 0.8, "LMAF", {}, "d 1", "c 1"
    )
    analysis = StudyAnalysis((RadiographOutcome(images.radiographs[0], result),), (), ())
    sent = send_results(client, analysis, str(rg3.StudyInstanceUID))
    assert [s.kind for s in sent] == ["SR", "SC"]
    web = PacsClient(PacsConnection(dimse_orthanc.url, USER, PASSWORD))
    series = [s for s in web.list_series(str(rg3.StudyInstanceUID)) if s.modality == "SR"]
    (sr,) = web.retrieve_series(str(rg3.StudyInstanceUID), series[0].series_uid)
    assert sr.SOPInstanceUID == sent[0].sop_uid
    assert read_radiograph_report(sr).fragments[0].p_lmaf == pytest.approx(0.8)


def test_unknown_caller_is_refused(dimse_orthanc: OrthancServer) -> None:
    with pytest.raises(PacsError, match="association"):
        _client(dimse_orthanc, calling="STRANGER").search_studies(modality="CR")


def test_closed_dicom_port_fails_fast() -> None:
    client = DimseClient(DimseConnection("127.0.0.1", free_port(), "X", timeout_s=2))
    start = time.monotonic()
    with pytest.raises(PacsError, match="cannot be reached"):
        client.search_studies()
    assert time.monotonic() - start < 2.5


def test_cli_searches_over_dimse(
    dimse_orthanc: OrthancServer, capsys: pytest.CaptureFixture[str]
) -> None:
    rg3 = pydicom.dcmread(rg3_path(), stop_before_pixels=True)
    where = f"127.0.0.1:{dimse_orthanc.dicom_port}"
    argv = ["search", "--dimse", where, "--called-aet", ORTHANC_AET,
            "--calling-aet", CALLING_AET, "--modality", "CR"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(str(rg3.StudyInstanceUID)) and str(rg3.PatientID) not in out
    bad = ["search", "--dimse", f"127.0.0.1:{dimse_orthanc.dicom_port}", "--called-aet", "WRONG"]
    assert main(bad) == 1
    assert "association" in capsys.readouterr().err
