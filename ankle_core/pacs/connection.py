"""How to reach a PACS: its DICOMweb root, credentials and timeout, and a safe HTTP session.

Credentials come from :class:`~ankle_core.config.Settings` (``ANKLE_PACS_PASSWORD`` and
friends) and live only in a :class:`PacsConnection` (whose ``repr`` hides them) and in the
``requests.Session`` built from it. They are never put in a URL, a log line or an error
message: :func:`display_url` strips any ``user:password@`` part, and :func:`install_log_redaction`
keeps query strings (which may carry a patient ID) out of the HTTP libraries' debug logs.

Where credentials go is the server's decision: the address comes from Settings only
(``ANKLE_PACS_URL``), must be ``https://`` unless it is a loopback address (so a password never
crosses a network in clear), and its certificate is checked against ``ANKLE_PACS_CA_BUNDLE``
when the hospital signs its own certificates (else the system's trust store).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from ankle_core.access import is_loopback_host
from ankle_core.config import Settings
from ankle_core.errors import PacsError

__all__ = ["PacsConnection", "build_session", "display_url", "install_log_redaction"]

_QUERY = re.compile(r"\?[^\s'\"]*")
_REDACTED_LOGGERS = (
    "dicomweb_client",
    "dicomweb_client.web",
    "urllib3.connectionpool",
    "retrying",
)


@dataclass(frozen=True)
class PacsConnection:
    """Where and how to reach a DICOMweb server.

    Attributes:
        url: DICOMweb root, e.g. ``https://pacs.hospital.org/dicom-web`` (no credentials in
            it); ``http://`` only for a loopback address such as ``http://127.0.0.1:8042``.
        user: HTTP basic user name, or None.
        password: HTTP basic password, or None; hidden from ``repr``.
        token: bearer token, or None; hidden from ``repr``. Used instead of basic auth
            when set.
        timeout_s: timeout of each request (connect and read), in seconds.
        ca_bundle: PEM file of the CA(s) trusted for ``https``, or None (system trust store).
    """

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    timeout_s: float = 20.0
    ca_bundle: Path | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PacsError(
                "The PACS address must be an http:// or https:// URL of its DICOMweb root."
            )
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise PacsError(
                f"The PACS at {display_url(self.url)} must be reached over https:// "
                "(plain http:// is allowed only on this machine, e.g. 127.0.0.1)."
            )
        if self.ca_bundle is not None and not Path(self.ca_bundle).is_file():
            raise PacsError("The PACS CA bundle (ANKLE_PACS_CA_BUNDLE) is not a readable file.")
        if parts.username or parts.password:
            raise PacsError("Put the PACS user name and password in Settings, not in the address.")
        if not self.timeout_s > 0:
            raise PacsError("The PACS timeout must be a positive number of seconds.")
        object.__setattr__(self, "url", self.url.rstrip("/"))

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        url: str | None = None,
        user: str | None = None,
    ) -> PacsConnection:
        """Build a connection from settings, optionally overriding the URL and user.

        Only operator tools (the command line, run by whoever holds the server's
        environment) override the URL; the dashboard never does.

        Args:
            settings: the application settings (``pacs_url``, ``pacs_user``,
                ``pacs_password``, ``pacs_token``, ``pacs_timeout_s``).
            url: DICOMweb root overriding ``settings.pacs_url``.
            user: user name overriding ``settings.pacs_user``.

        Returns:
            The connection.

        Raises:
            PacsError: when no URL is configured or the URL is not usable.
        """
        chosen = url or settings.pacs_url
        if not chosen:
            raise PacsError("No PACS address is configured (Settings or ANKLE_PACS_URL).")
        return cls(
            url=chosen,
            user=user if user is not None else settings.pacs_user,
            password=settings.pacs_password,
            token=settings.pacs_token,
            timeout_s=settings.pacs_timeout_s,
            ca_bundle=settings.pacs_ca_bundle,
        )


def display_url(url: str) -> str:
    """The URL's scheme, host and port only, safe for messages.

    >>> display_url("http://u:p@pacs.local:8042/dicom-web/studies?PatientID=1")
    'http://pacs.local:8042'
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, "", "", ""))


def build_session(connection: PacsConnection) -> requests.Session:
    """A ``requests.Session`` that authenticates with a bearer token or HTTP basic.

    Args:
        connection: where to connect and with which credentials.

    Returns:
        A session; environment proxies and ``.netrc`` are ignored (``trust_env`` off), so
        only the configured credentials are ever sent; certificates are verified against
        the connection's CA bundle when it has one (else the system's trust store).
    """
    install_log_redaction()
    session = requests.Session()
    session.trust_env = False
    session.verify = str(connection.ca_bundle) if connection.ca_bundle is not None else True
    if connection.token:
        session.headers["Authorization"] = f"Bearer {connection.token}"
    elif connection.user is not None:
        session.auth = (connection.user, connection.password or "")
    return session


class _RedactQueries(logging.Filter):
    """Replace URL query strings (``?PatientID=...``) in log records by ``?<redacted>``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg = _QUERY.sub("?<redacted>", message)
            record.args = None
        return True


_FILTER = _RedactQueries()


def install_log_redaction() -> None:
    """Attach the query-string redaction filter to the HTTP libraries' loggers (idempotent).

    ``dicomweb-client`` and ``urllib3`` log each request URL at debug level; a QIDO-RS
    search by patient ID would otherwise write the ID into the log.
    """
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
