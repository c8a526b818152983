"""SQLAlchemy 2 ORM tables of the case history.

The ORM classes mirror the schema at Alembic's head revision (see ``migrations/versions``).
A schema change is a new migration *and* a change here; the migrations, not
``Base.metadata.create_all``, create and evolve real databases.

No table holds patient identifiers: a case is known by a random id, the random id of the
browser session that created it, the sha256 of the input bytes, de-identified metadata and
the model outputs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "CaseRow"]


class Base(DeclarativeBase):
    """Declarative base of every ``ankle_core.store`` table (reader studies will join it)."""


class CaseRow(Base):
    """One analysed case (a radiograph or a CT volume).

    Attributes:
        id: random UUID4 hex string (32 characters); never derived from the input.
        session_id: random id of the browser session that analysed the case.
        created_at: UTC time the case was stored (timezone-aware).
        kind: ``"radiograph"`` or ``"ct"``.
        input_sha256: sha256 hex digest of the uploaded bytes (or of the demo case's id).
        source_format: ``"dicom"``, ``"png"``, ``"jpeg"``, ``"nifti"``, ``"dicom-series"``,
            ``"demo"``...; None for rows written before revision 0002.
        metadata_json: de-identified header facts and what the reader applied.
        results_json: the pipeline's result, JSON-ready (large arrays left out).
        model_name: name(s) of the model(s) that produced the result.
        model_version: their version(s), in the same order.
        owner_id: sha256 of the signed-in user's OpenID Connect issuer and subject, or None
            (local mode, and rows older than revision 0004); the history lists by it.
    """

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_session_created", "session_id", "created_at"),
        Index("ix_cases_owner_created", "owner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(16))
    input_sha256: Mapped[str] = mapped_column(String(64))
    source_format: Mapped[str | None] = mapped_column(String(32), nullable=True)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    results_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
