"""The case history: what each user (or browser session) analysed, with no patient identifiers.

:class:`CaseStore` wraps a SQLAlchemy engine made from any URL (SQLite by default,
PostgreSQL with ``postgresql+psycopg://``). Every read is scoped: to the signed-in user's
owner id (a digest of their OpenID Connect issuer and subject, so their history survives
reloads and new sessions) or, in local mode, to one browser session's random id. One user
never sees another's cases. The store is thread-safe: it holds only the engine and
opens a short-lived ORM session per call.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from ankle_core.errors import InvalidInputError
from ankle_core.store.jsonable import to_jsonable
from ankle_core.store.migrate import upgrade
from ankle_core.store.tables import CaseRow

__all__ = ["CASE_KINDS", "CaseRecord", "CaseStore", "scrub_metadata"]

logger = logging.getLogger(__name__)

CASE_KINDS = ("radiograph", "ct")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_OWNER_ID = re.compile(r"^[0-9a-f]{64}$")
# Metadata keys that could identify a person; dropped whatever a reader passed on.
_IDENTIFYING = re.compile(
    r"patient|accession|institution|physician|operator|birth|address|telephone|phone|"
    r"name|uid|referring|requesting|performing|station|device_?serial|other_?ids",
    re.IGNORECASE,
)


def scrub_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Drop identifier-like keys (at every level) and make the rest JSON-ready.

    Readers already de-identify; this is a second, independent guard so that the store
    never holds a name, an id, a date of birth, an institution or a DICOM UID.

    Args:
        metadata: header facts, possibly nested.

    Returns:
        A JSON-ready copy without identifier-like keys.

    >>> scrub_metadata({"modality": "CR", "PatientName": "X", "inverted": True})
    {'modality': 'CR', 'inverted': True}
    """
    clean: dict[str, Any] = {}
    for key, value in metadata.items():
        if _IDENTIFYING.search(str(key)):
            continue
        clean[str(key)] = scrub_metadata(value) if isinstance(value, Mapping) else value
    out: dict[str, Any] = to_jsonable(clean)
    return out


@dataclass(frozen=True)
class CaseRecord:
    """One stored case, detached from the database.

    Attributes:
        id: random case id (32 hex characters).
        session_id: the session that created it.
        created_at: UTC, timezone-aware.
        kind: ``"radiograph"`` or ``"ct"``.
        input_sha256: sha256 of the input bytes.
        source_format: input format, or None for rows older than revision 0002.
        metadata: de-identified metadata (read-only mapping).
        results: the stored result (read-only mapping).
        model_name: model name(s).
        model_version: model version(s).
        owner_id: the signed-in user's owner id, or None (local mode).
    """

    id: str
    session_id: str
    created_at: datetime
    kind: str
    input_sha256: str
    source_format: str | None
    metadata: Mapping[str, Any]
    results: Mapping[str, Any]
    model_name: str
    model_version: str
    owner_id: str | None = None

    @classmethod
    def from_row(cls, row: CaseRow) -> CaseRecord:
        created = row.created_at
        if created.tzinfo is None:  # SQLite drops the zone; the store always writes UTC
            created = created.replace(tzinfo=UTC)
        return cls(
            id=row.id,
            session_id=row.session_id,
            created_at=created,
            kind=row.kind,
            input_sha256=row.input_sha256,
            source_format=row.source_format,
            metadata=MappingProxyType(dict(row.metadata_json)),
            results=MappingProxyType(dict(row.results_json)),
            model_name=row.model_name,
            model_version=row.model_version,
            owner_id=row.owner_id,
        )


def _scope(session_id: str, owner_id: str | None) -> ColumnElement[bool]:
    """Rows of the signed-in user, or of the local session (never a signed-in user's)."""
    if owner_id is not None:
        return CaseRow.owner_id == owner_id
    return and_(CaseRow.session_id == session_id, CaseRow.owner_id.is_(None))


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            # One shared connection, or every call would see a fresh empty database.
            return create_engine(
                url, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        if not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, connect_args={"check_same_thread": False})
    return create_engine(url, pool_pre_ping=True)


class CaseStore:
    """Case history over any SQLAlchemy database.

    Args:
        engine: an engine; :meth:`from_url` builds one and migrates the schema.

    Example:
        >>> store = CaseStore.from_url("sqlite://")
        >>> rec = store.add_case("session-a1", kind="ct", input_sha256="0" * 64,
        ...                      metadata={}, results={"probability": 0.9},
        ...                      model_name="m", model_version="1")
        >>> [c.id for c in store.list_cases("session-a1")] == [rec.id]
        True
        >>> store.list_cases("session-b2")
        []
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True) -> CaseStore:
        """Connect to ``url`` and (by default) upgrade the schema to the newest revision.

        Args:
            url: SQLAlchemy URL, e.g. ``sqlite:///data/case_history.sqlite`` or
                ``postgresql+psycopg://user:pw@127.0.0.1:5432/ankle``.
            migrate: run the Alembic migrations first (additive; never drops data).

        Returns:
            A ready store.
        """
        engine = _make_engine(url)
        if migrate:
            upgrade(engine)
        logger.info("case store on %s", make_url(url).get_backend_name())
        return cls(engine)

    @property
    def engine(self) -> Engine:
        """The underlying engine (for migrations and tests)."""
        return self._engine

    def add_case(
        self,
        session_id: str,
        *,
        kind: str,
        input_sha256: str,
        metadata: Mapping[str, Any],
        results: Any,
        model_name: str,
        model_version: str,
        source_format: str | None = None,
        owner_id: str | None = None,
    ) -> CaseRecord:
        """Store one analysed case.

        Args:
            session_id: random id of the browser session (8-64 of ``A-Za-z0-9_-``).
            kind: ``"radiograph"`` or ``"ct"``.
            input_sha256: sha256 hex digest (64 lowercase hex characters) of the input.
            metadata: de-identified metadata; identifier-like keys are dropped again here.
            results: the pipeline result (dataclass or mapping); made JSON-ready.
            model_name: model name(s), e.g. ``"lmaf-fragment-detector+lmaf-classifier"``.
            model_version: matching version(s).
            source_format: ``"dicom"``, ``"png"``, ``"nifti"``, ``"demo"``...
            owner_id: the signed-in user's owner id (64 hex characters,
                ``ankle_core.access.User.owner_id``); None in local mode.

        Returns:
            The stored record.

        Raises:
            InvalidInputError: a malformed session id, owner id, kind or hash.
        """
        if not _SESSION_ID.match(session_id):
            raise InvalidInputError("The session id is malformed.")
        if owner_id is not None and not _OWNER_ID.match(owner_id):
            raise InvalidInputError("The owner id is malformed.")
        if kind not in CASE_KINDS:
            raise InvalidInputError(f"A case is one of {CASE_KINDS}, not {kind!r}.")
        if not _SHA256.match(input_sha256):
            raise InvalidInputError("The input hash must be a sha256 hex digest.")
        stored_results = to_jsonable(results)
        if not isinstance(stored_results, dict):
            stored_results = {"value": stored_results}
        row = CaseRow(
            id=uuid.uuid4().hex,
            session_id=session_id,
            created_at=datetime.now(UTC),
            kind=kind,
            input_sha256=input_sha256,
            source_format=source_format,
            metadata_json=scrub_metadata(metadata),
            results_json=stored_results,
            model_name=model_name[:200],
            model_version=model_version[:100],
            owner_id=owner_id,
        )
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()
            record = CaseRecord.from_row(row)
        logger.info("stored %s case %s", kind, record.id)
        return record

    def list_cases(
        self, session_id: str, *, owner_id: str | None = None, limit: int = 200
    ) -> list[CaseRecord]:
        """The user's (or, in local mode, the session's) cases, newest first.

        Args:
            session_id: the browser session's id (used when ``owner_id`` is None).
            owner_id: the signed-in user's owner id: every case they stored, in any session.
            limit: most cases returned.

        Returns:
            Records of that user only (with ``owner_id``), else of that session only (and
            never a signed-in user's case).
        """
        query = (
            select(CaseRow)
            .where(_scope(session_id, owner_id))
            .order_by(CaseRow.created_at.desc(), CaseRow.id)
            .limit(limit)
        )
        with Session(self._engine) as session:
            return [CaseRecord.from_row(row) for row in session.scalars(query)]

    def get_case(
        self, session_id: str, case_id: str, *, owner_id: str | None = None
    ) -> CaseRecord | None:
        """One case of this user (or session), or None (also when it is someone else's).

        Args:
            session_id: the browser session's id (used when ``owner_id`` is None).
            case_id: the case's id.
            owner_id: the signed-in user's owner id.

        Returns:
            The record, or None.
        """
        query = select(CaseRow).where(CaseRow.id == case_id, _scope(session_id, owner_id))
        with Session(self._engine) as session:
            row = session.scalars(query).first()
            return None if row is None else CaseRecord.from_row(row)

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self._engine.dispose()
