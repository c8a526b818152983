"""A private Orthanc (Debian package) with its DICOMweb plugin, for the PACS tests.

The server runs as a subprocess with its storage in a temporary folder, on a free HTTP
port, with the DICOM port disabled, ``RemoteAccessAllowed: false`` (loopback only) and
HTTP basic authentication on. It is stopped by its PID.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ORTHANC = "/usr/sbin/Orthanc"
PLUGIN_CANDIDATES = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
)
USER = "ankle"
PASSWORD = "Pacs-S3cret-9f41"  # a distinctive string, so that a leak is easy to find


def orthanc_available() -> str | None:
    """None when Orthanc and its DICOMweb plugin are installed, else why not."""
    if shutil.which("Orthanc") is None and not Path(ORTHANC).exists():
        return "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)"
    if _plugin() is None:
        return "the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)"
    return None


def _plugin() -> str | None:
    for candidate in PLUGIN_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = sorted(Path("/usr").glob("**/libOrthancDicomWeb.so*")) if Path("/usr").exists() else []
    return str(found[0]) if found else None


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OrthancServer:
    """A running Orthanc; ``url`` is its DICOMweb root."""

    process: subprocess.Popen[bytes]
    http_port: int
    folder: Path
    dicom_port: int | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def url(self) -> str:
        return f"{self.base}/dicom-web"

    def stop(self) -> None:
        """Stop the server by its PID and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def stored_instance_count(self) -> int:
        answer = requests.get(f"{self.base}/statistics", auth=(USER, PASSWORD), timeout=5)
        answer.raise_for_status()
        return int(answer.json()["CountInstances"])


#: Orthanc's AE title, and the only caller it admits over DIMSE (from 127.0.0.1).
ORTHANC_AET = "ANKLETEST"
CALLING_AET = "ANKLEWB"


def start_orthanc(folder: Path, *, dicom: bool = False) -> OrthancServer:
    """Write a config into ``folder`` and start Orthanc; returns once it answers.

    Args:
        folder: where the config, storage and log go.
        dicom: also listen for DIMSE on a free port, admitting only :data:`CALLING_AET`
            from 127.0.0.1 (find, get, store); otherwise the DICOM server is off.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    dicom_port = free_port()
    config: dict[str, object] = {
        "Name": "ANKLE-TEST",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": port,
        "DicomServerEnabled": dicom,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AET,
        "DicomCheckCalledAet": True,
        "DicomCheckModalityHost": True,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomAlwaysAllowFind": False,
        "DicomAlwaysAllowGet": False,
        "DicomAlwaysAllowMove": False,
        "DicomModalities": {
            "workbench": {"AET": CALLING_AET, "Host": "127.0.0.1", "Port": free_port()}
        },
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [_plugin()],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StorageCompression": False,
    }
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config, indent=2))
    with (folder / "orthanc.log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [shutil.which("Orthanc") or ORTHANC, str(path)], stdout=log, stderr=subprocess.STDOUT
        )
    server = OrthancServer(
        process=process, http_port=port, folder=folder, dicom_port=dicom_port if dicom else None
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited: {(folder / 'orthanc.log').read_text()[-2000:]}")
        try:
            answer = requests.get(f"{server.url}/studies", auth=(USER, PASSWORD), timeout=1)
            if answer.status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("Orthanc did not answer within 30 s")
