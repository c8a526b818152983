"""Where PACS credentials may go: https except on loopback, and the hospital's CA is honoured.

No Orthanc needed: a tiny DICOMweb stand-in serves ``/dicom-web/studies`` over https on
127.0.0.1 with a certificate signed by a CA generated here (``cryptography``).
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ankle_core.config import Settings
from ankle_core.errors import PacsError
from ankle_core.pacs import PacsClient, PacsConnection, build_session


@pytest.mark.parametrize(
    "url",
    [
        "http://pacs.hospital.org/dicom-web",
        "http://10.0.0.5:8042/dicom-web",
        "http://0.0.0.0:8042/dicom-web",
        "http://127.0.0.1.evil.org/dicom-web",
    ],
)
def test_plain_http_to_another_host_is_refused(url: str) -> None:
    with pytest.raises(PacsError, match="https://"):
        PacsConnection(url, "u", "secret")
    with pytest.raises(PacsError, match="https://"):
        PacsConnection.from_settings(Settings(pacs_url=url, pacs_password="secret"))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8042/dicom-web", "http://localhost/dicom-web", "http://[::1]/x"]
)
def test_plain_http_on_loopback_is_allowed(url: str) -> None:
    assert PacsConnection(url).url == url


def test_missing_ca_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PacsError, match="CA bundle"):
        PacsConnection("https://pacs.hospital.org", ca_bundle=tmp_path / "none.pem")


def test_ca_bundle_comes_from_the_environment(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {"ANKLE_PACS_URL": "https://pacs.hospital.org/dicom-web", "ANKLE_PACS_CA_BUNDLE": str(ca)}
    connection = PacsConnection.from_settings(Settings.from_env(env))
    assert connection.ca_bundle == ca
    assert build_session(connection).verify == str(ca)
    assert build_session(PacsConnection("https://pacs.hospital.org")).verify is True


def _tls_files(root: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 it signs: (ca.pem, server.pem, server.key)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("Test hospital CA"))
        .issuer_name(name("Test hospital CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = (root / "ca.pem", root / "server.pem", root / "server.key")
    paths[0].write_bytes(ca_cert.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class _Studies(http.server.BaseHTTPRequestHandler):
    """QIDO-RS stand-in: every study search answers an empty list (if authenticated)."""

    seen_auth: list[str] = []  # noqa: RUF012 - one server per test

    def do_GET(self) -> None:
        self.seen_auth.append(self.headers.get("Authorization", ""))
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def https_pacs(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A DICOMweb stand-in over https on 127.0.0.1; yields (URL, CA bundle)."""
    ca, cert, key = _tls_files(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Studies)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _Studies.seen_auth = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/dicom-web", ca
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_self_signed_pacs_is_trusted_once_its_ca_is_given(https_pacs: tuple[str, Path]) -> None:
    url, ca = https_pacs
    untrusted = PacsClient(PacsConnection(url, "u", "secret", timeout_s=5))
    with pytest.raises(PacsError, match="ANKLE_PACS_CA_BUNDLE") as info:
        untrusted.search_studies()
    assert "secret" not in str(info.value)
    assert _Studies.seen_auth == []  # nothing was sent before the certificate was trusted
    env = {
        "ANKLE_PACS_URL": url,
        "ANKLE_PACS_USER": "u",
        "ANKLE_PACS_PASSWORD": "secret",
        "ANKLE_PACS_CA_BUNDLE": str(ca),
        "ANKLE_PACS_TIMEOUT_S": "5",
    }
    trusted = PacsClient(PacsConnection.from_settings(Settings.from_env(env)))
    assert trusted.search_studies() == []
    assert _Studies.seen_auth and _Studies.seen_auth[-1].startswith("Basic ")
