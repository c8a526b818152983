"""DICOMweb client against a real Orthanc: search, retrieve, errors, and no leaked secrets."""

from __future__ import annotations

import hashlib
import logging
import time

import numpy as np
import pytest
import requests

from ankle_core.config import Settings
from ankle_core.errors import PacsError
from ankle_core.io import read_radiograph
from ankle_core.pacs import PacsClient, PacsConnection, build_session, dataset_bytes
from tests.core.pacs.conftest import Seeded
from tests.core.pacs.dicom_factory import rg3_path
from tests.core.pacs.orthanc import PASSWORD, USER, OrthancServer, free_port

pytestmark = pytest.mark.pacs


def test_search_by_each_criterion_finds_rg3(client: PacsClient, seeded: Seeded) -> None:
    study_uid = str(seeded.rg3.StudyInstanceUID)
    criteria = [
        {"patient_id": str(seeded.rg3.PatientID)},
        {"accession_number": str(seeded.rg3.AccessionNumber)},
        {"date_from": "20040801", "date_to": "20040831"},
        {"modality": "CR"},
    ]
    for criterion in criteria:
        found = [s.study_uid for s in client.search_studies(**criterion)]  # type: ignore[arg-type]
        assert study_uid in found, criterion
    assert client.search_studies(patient_id="NO-SUCH-PATIENT") == []
    assert study_uid not in [s.study_uid for s in client.search_studies(date_from="20200101")]
    assert seeded.ct_study_uid in [s.study_uid for s in client.search_studies(modality="CT")]


def test_summaries_carry_no_patient_identity(client: PacsClient, seeded: Seeded) -> None:
    (summary,) = client.search_studies(patient_id=str(seeded.rg3.PatientID))
    shown = repr(summary) + summary.label
    assert "CompressedSamples" not in shown and str(seeded.rg3.PatientID) not in shown
    assert summary.modalities == ("CR",) and summary.date == "20040826"


def test_list_series_gives_modality_and_kind(client: PacsClient, seeded: Seeded) -> None:
    series = client.list_series(seeded.ct_study_uid)
    kinds = {s.modality: s.kind for s in series}
    assert kinds["CT"] == "ct" and kinds["DX"] == "radiograph"
    ct = next(s for s in series if s.modality == "CT")
    assert ct.n_instances == len(seeded.ct)


def test_retrieved_pixels_hash_like_the_stored_source(client: PacsClient, seeded: Seeded) -> None:
    rg3 = seeded.rg3
    (retrieved,) = client.retrieve_series(str(rg3.StudyInstanceUID), str(rg3.SeriesInstanceUID))
    assert hashlib.sha256(retrieved.PixelData).hexdigest() == seeded.rg3_pixel_sha256
    via_pacs = read_radiograph(dataset_bytes(retrieved))
    from_file = read_radiograph(rg3_path())
    assert via_pacs.shape == (1760, 1760)
    assert np.array_equal(via_pacs.pixels, from_file.pixels)
    assert "PatientID" not in via_pacs.metadata and "patient_id" not in via_pacs.metadata


def test_wrong_password_gives_a_clear_message(orthanc: OrthancServer, seeded: Seeded) -> None:
    bad = PacsClient(PacsConnection(orthanc.url, USER, "wrong-password", timeout_s=5))
    with pytest.raises(PacsError, match="refused the login") as info:
        bad.search_studies(modality="CR")
    assert "wrong-password" not in str(info.value)
    assert info.value.__cause__ is None


def test_unknown_study_is_reported(client: PacsClient) -> None:
    with pytest.raises(PacsError, match="no study with this Study Instance UID"):
        client.require_study("1.2.3.4.5.6.7.8.9")


def test_closed_port_fails_fast_with_a_clear_message() -> None:
    client = PacsClient(PacsConnection(f"http://127.0.0.1:{free_port()}/dicom-web", timeout_s=2))
    start = time.monotonic()
    with pytest.raises(PacsError, match="cannot be reached"):
        client.search_studies()
    assert time.monotonic() - start < 2.5


def test_server_that_does_not_answer_times_out(silent_server: int) -> None:
    url = f"http://127.0.0.1:{silent_server}/dicom-web"
    client = PacsClient(PacsConnection(url, timeout_s=0.5))
    start = time.monotonic()
    with pytest.raises(PacsError, match=r"did not answer within 0\.5 s"):
        client.search_studies()
    assert time.monotonic() - start < 3.0


def test_default_timeout_is_20_seconds() -> None:
    connection = PacsConnection.from_settings(Settings(pacs_url="https://pacs.local/dicom-web"))
    assert connection.timeout_s == 20.0
    env = {"ANKLE_PACS_URL": "https://p/dicom-web", "ANKLE_PACS_TIMEOUT_S": "7"}
    assert PacsConnection.from_settings(Settings.from_env(env)).timeout_s == 7.0


def test_credentials_never_logged_or_shown(
    orthanc: OrthancServer, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"ANKLE_PACS_URL": orthanc.url, "ANKLE_PACS_USER": USER, "ANKLE_PACS_PASSWORD": PASSWORD}
    connection = PacsConnection.from_settings(Settings.from_env(env))
    good = PacsClient(connection)
    patient_id = str(seeded.rg3.PatientID)
    good.search_studies(patient_id=patient_id)
    good.retrieve_series(str(seeded.rg3.StudyInstanceUID), str(seeded.rg3.SeriesInstanceUID))
    bad = PacsClient(PacsConnection(orthanc.url, USER, PASSWORD + "-x", timeout_s=5))
    with pytest.raises(PacsError) as info:
        bad.search_studies(patient_id=patient_id)
    assert caplog.records, "the HTTP libraries should have logged at debug level"
    text = caplog.text + str(info.value) + repr(connection) + repr(good.connection)
    assert PASSWORD not in text
    assert patient_id not in text  # query strings are redacted in the HTTP debug logs


def test_bearer_token_replaces_basic_auth() -> None:
    session = build_session(PacsConnection("https://pacs.local/dicom-web", "u", "p", token="tok"))
    assert session.headers["Authorization"] == "Bearer tok"
    assert session.auth is None
    basic = build_session(PacsConnection("https://pacs.local/dicom-web", "u", "p"))
    assert basic.auth == ("u", "p") and "Authorization" not in basic.headers


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(PacsError, match="not in the address"):
        PacsConnection("https://u:secret@pacs.local/dicom-web")


def test_instance_sent_malformed_is_skipped_with_a_note(
    client: PacsClient, orthanc: OrthancServer
) -> None:
    from dicomweb_client.api import DICOMwebClient
    from pydicom.uid import generate_uid

    from tests.core.pacs.dicom_factory import make_ct_series, phantom_hu

    good, bad = make_ct_series(phantom_hu((2, 16, 16)), study_uid=str(generate_uid()))
    bad.SeriesInstanceUID = good.SeriesInstanceUID
    raw = requests.Session()
    raw.auth = (USER, PASSWORD)
    # Stored as a bare data set (no preamble, no "DICM"): the PACS serves it back that way,
    # and pydicom refuses it when the series is decoded.
    DICOMwebClient(orthanc.url, session=raw).store_instances([bad])
    client.store([good])
    datasets, notes = client.retrieve_series_noting(
        str(good.StudyInstanceUID), str(good.SeriesInstanceUID)
    )
    assert [ds.SOPInstanceUID for ds in datasets] == [good.SOPInstanceUID]
    assert len(notes) == 1 and "skipped" in notes[0]


def test_study_without_a_readable_image_is_reported(client: PacsClient, seeded: Seeded) -> None:
    from pydicom.uid import generate_uid

    from ankle_core.pacs import retrieve_study
    from tests.core.pacs.dicom_factory import broken_dx

    study_uid = str(generate_uid())
    client.store([broken_dx(study_uid, seeded.ct[0])])
    with pytest.raises(PacsError, match="no image the pipelines can read") as info:
        retrieve_study(client, study_uid)
    assert "series #7 DX image 1 skipped" in str(info.value)
    assert str(seeded.ct[0].PatientID) not in str(info.value)
