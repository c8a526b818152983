"""Fixtures of the PACS tests: a private Orthanc seeded with RG3 and a phantom CT study."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from ankle_core.config import Settings
from ankle_core.pacs import PacsClient, PacsConnection
from tests.core.pacs.dicom_factory import broken_dx, make_ct_series, phantom_hu, rg3_path
from tests.core.pacs.orthanc import PASSWORD, USER, OrthancServer, orthanc_available, start_orthanc
from tests.core.pacs.tiny_models import make_tiny_models


@dataclass(frozen=True)
class Seeded:
    """What the seeded PACS holds (the originals, for comparisons)."""

    rg3: Dataset
    rg3_pixel_sha256: str
    ct: tuple[Dataset, ...]
    ct_study_uid: str
    broken_sop_uid: str


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """A private Orthanc with DICOMweb and basic auth, stopped by its PID at the end."""
    missing = orthanc_available()
    if missing:
        pytest.skip(missing)
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seeded(orthanc: OrthancServer) -> Seeded:
    """Store RG3 (CR) and a phantom CT study (12 slices + one malformed DX instance)."""
    client = PacsClient(PacsConnection(orthanc.url, USER, PASSWORD, timeout_s=20))
    rg3 = pydicom.dcmread(rg3_path())
    study_uid = str(generate_uid())
    ct = make_ct_series(phantom_hu(), study_uid=study_uid)
    broken = broken_dx(study_uid, ct[0])
    client.store([rg3])
    client.store([*ct, broken])
    return Seeded(
        rg3=rg3,
        rg3_pixel_sha256=hashlib.sha256(rg3.PixelData).hexdigest(),
        ct=tuple(ct),
        ct_study_uid=study_uid,
        broken_sop_uid=str(broken.SOPInstanceUID),
    )


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny random-weight detector, classifier and CT model (a few hundred kB)."""
    return make_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture()
def client(orthanc: OrthancServer, seeded: Seeded) -> PacsClient:
    """A client logged in with the right password."""
    settings = Settings(pacs_url=orthanc.url, pacs_user=USER, pacs_password=PASSWORD)
    return PacsClient(PacsConnection.from_settings(settings))


@pytest.fixture()
def silent_server() -> Iterator[int]:
    """A socket that accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        sock.close()
