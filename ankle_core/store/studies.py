"""Reader studies in the case-history database: studies, their cases, readers and ratings.

:class:`StudyStore` shares the case store's engine and ``Base`` metadata; its tables come
from the Alembic revision ``0003_reader_studies``. Rules it enforces:

- the study key is stored only as the hash it is given (see ``ankle_core.teaching.keys``);
- a reader's reads (:meth:`StudyStore.reader_ratings`) are scoped to that reader's id;
- every rating is stored as given, with its reading time, and never overwritten: writing the
  same (reader, case, condition) again returns the stored rating (idempotent, so a reload or
  a double click never duplicates or changes a rating; a unique constraint backs this).

A reader is identified by their sign-in (``subject``: a digest of their OpenID Connect issuer
and subject) or by a per-reader invite token of which only the sha256 is stored; the name is a
label and never identifies anyone. No table holds patient identifiers.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from ankle_core.errors import InvalidInputError
from ankle_core.store.tables import Base

__all__ = [
    "RatingRecord",
    "ReaderRecord",
    "StudyCase",
    "StudyCaseRow",
    "StudyRatingRow",
    "StudyReaderRow",
    "StudyRecord",
    "StudyRow",
    "StudyStore",
]

logger = logging.getLogger(__name__)

_CODE = re.compile(r"^[A-Z0-9]{4,16}$")
_MAX_NAME = 100
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class StudyRow(Base):
    """A reader study (``code`` is what readers type to join)."""

    __tablename__ = "studies"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    design: Mapped[str] = mapped_column(String(16))
    washout_days: Mapped[float] = mapped_column(Float)
    scale: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(255))


class StudyCaseRow(Base):
    """One case of a study: its bytes, truth and position in the owner's list."""

    __tablename__ = "study_cases"
    __table_args__ = (UniqueConstraint("study_code", "case_id", name="uq_study_case"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_code: Mapped[str] = mapped_column(ForeignKey("studies.code"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    case_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(16))
    truth: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class StudyReaderRow(Base):
    """A reader of a study, with the seed of their case order.

    A reader is identified by ``subject`` (digest of their sign-in) or by ``token_hash``
    (sha256 of their invite token); ``name`` is only a label.
    """

    __tablename__ = "study_readers"
    __table_args__ = (
        UniqueConstraint("study_code", "name", name="uq_study_reader"),
        Index("ix_study_readers_subject", "study_code", "subject", unique=True),
        Index("ix_study_readers_token", "token_hash", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    study_code: Mapped[str] = mapped_column(ForeignKey("studies.code"), index=True)
    name: Mapped[str] = mapped_column(String(_MAX_NAME))
    seed: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    subject: Mapped[str | None] = mapped_column(String(64), nullable=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class StudyRatingRow(Base):
    """One rating, as given: score on the study's scale, call, reading time."""

    __tablename__ = "study_ratings"
    __table_args__ = (
        UniqueConstraint("reader_id", "case_id", "condition", name="uq_study_rating"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reader_id: Mapped[str] = mapped_column(ForeignKey("study_readers.id"), index=True)
    case_id: Mapped[str] = mapped_column(String(200))
    condition: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    call: Mapped[int] = mapped_column(Integer)
    reading_time_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class StudyCase:
    """A case handed to :meth:`StudyStore.create_study`.

    Attributes:
        case_id: unique within the study (e.g. the file name).
        label: ``"lmaf"``, ``"sfo"`` or ``"none"``.
        truth: 1 for LMAF (the fracture), else 0.
        source: e.g. ``"bundled phantom"`` or ``"upload"``.
        sha256: hex digest of ``data``.
        data: the radiograph file's bytes (DICOM, PNG or JPEG).
    """

    case_id: str
    label: str
    truth: int
    source: str
    sha256: str
    data: bytes


@dataclass(frozen=True)
class StudyRecord:
    """A study as the pages see it (the key hash is included only for verification)."""

    code: str
    name: str
    created_at: datetime
    design: str
    washout_days: float
    scale: str
    key_hash: str
    case_ids: tuple[str, ...]
    truth: dict[str, int]
    labels: dict[str, str]


@dataclass(frozen=True)
class ReaderRecord:
    """A reader: random id, study, chosen name, recorded seed."""

    id: str
    study_code: str
    name: str
    seed: int
    created_at: datetime


@dataclass(frozen=True)
class RatingRecord:
    """A stored rating."""

    reader_id: str
    case_id: str
    condition: str
    score: float
    call: int
    reading_time_s: float
    created_at: datetime


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _rating(row: StudyRatingRow) -> RatingRecord:
    return RatingRecord(
        row.reader_id,
        row.case_id,
        row.condition,
        row.score,
        row.call,
        row.reading_time_s,
        _utc(row.created_at),
    )


def _reader(row: StudyReaderRow) -> ReaderRecord:
    return ReaderRecord(row.id, row.study_code, row.name, int(row.seed), _utc(row.created_at))


class StudyStore:
    """Reader studies over the case store's engine (thread-safe; a session per call).

    Args:
        engine: an engine whose schema is at revision ``0003_reader_studies`` or newer
            (``CaseStore.from_url`` migrates it).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def create_study(
        self,
        code: str,
        *,
        name: str,
        design: str,
        washout_days: float,
        scale: str,
        key_hash: str,
        cases: Sequence[StudyCase],
    ) -> StudyRecord:
        """Store a new study with its cases.

        Args:
            code: the study code (4–16 of ``A-Z0-9``).
            name: the study's title.
            design: ``"same-sitting"`` or ``"washout"``.
            washout_days: days between the unaided and aided sessions (washout design).
            scale: the rating scale's name.
            key_hash: the hashed study key (never the key itself).
            cases: at least one case; ids unique.

        Returns:
            The stored study.

        Raises:
            InvalidInputError: a malformed code, no case, duplicate case ids, a clear-text
                key, or a code already taken.
        """
        if not _CODE.match(code):
            raise InvalidInputError("The study code is malformed.")
        if not cases:
            raise InvalidInputError("A study needs at least one case.")
        if len({c.case_id for c in cases}) != len(cases):
            raise InvalidInputError("Two cases of the study share an id.")
        if not key_hash.startswith("scrypt$"):
            raise InvalidInputError("Store the study key hashed, never in clear.")
        now = datetime.now(UTC)
        try:
            with self._sessions.begin() as session:
                session.add(
                    StudyRow(
                        code=code,
                        name=name[:200],
                        created_at=now,
                        design=design,
                        washout_days=float(washout_days),
                        scale=scale,
                        key_hash=key_hash,
                    )
                )
                session.flush()
                for i, case in enumerate(cases):
                    session.add(
                        StudyCaseRow(
                            study_code=code,
                            position=i,
                            case_id=case.case_id[:200],
                            label=case.label,
                            truth=int(case.truth),
                            source=case.source[:64],
                            sha256=case.sha256,
                            data=case.data,
                        )
                    )
        except IntegrityError as exc:
            raise InvalidInputError("That study code is already taken.") from exc
        logger.info("created study %s with %d cases", code, len(cases))
        study = self.get_study(code)
        assert study is not None
        return study

    def get_study(self, code: str) -> StudyRecord | None:
        """The study with this code, or None."""
        code = code.strip().upper()
        with Session(self._engine) as session:
            row = session.get(StudyRow, code)
            if row is None:
                return None
            cases = session.execute(
                select(StudyCaseRow.case_id, StudyCaseRow.truth, StudyCaseRow.label)
                .where(StudyCaseRow.study_code == code)
                .order_by(StudyCaseRow.position)
            ).all()
            return StudyRecord(
                code=row.code,
                name=row.name,
                created_at=_utc(row.created_at),
                design=row.design,
                washout_days=row.washout_days,
                scale=row.scale,
                key_hash=row.key_hash,
                case_ids=tuple(c[0] for c in cases),
                truth={c[0]: int(c[1]) for c in cases},
                labels={c[0]: c[2] for c in cases},
            )

    def case_data(self, code: str, case_id: str) -> bytes:
        """The bytes of one case of a study.

        Raises:
            InvalidInputError: when the study has no such case.
        """
        query = select(StudyCaseRow.data).where(
            StudyCaseRow.study_code == code, StudyCaseRow.case_id == case_id
        )
        with Session(self._engine) as session:
            data = session.scalars(query).first()
        if data is None:
            raise InvalidInputError("This study has no such case.")
        return bytes(data)

    def add_reader(
        self,
        code: str,
        *,
        name: str,
        seed: int,
        subject: str | None = None,
        token_hash: str | None = None,
    ) -> ReaderRecord:
        """Add a reader identified by a sign-in digest or an invite token's hash.

        Args:
            code: the study code.
            name: a label for the owner's tables (1–100 characters; unique in the study);
                it never identifies the reader.
            seed: the seed of this reader's order.
            subject: owner id of a signed-in reader (64 hex characters), or None.
            token_hash: sha256 hex digest of an invite token (never the token), or None.

        Returns:
            The new reader.

        Raises:
            InvalidInputError: an unknown study, an empty or taken label, neither or both
                identities, or an identity already used.
        """
        name = " ".join(name.split())[:_MAX_NAME]
        if not name:
            raise InvalidInputError("Give the reader a label.")
        if (subject is None) == (token_hash is None):
            raise InvalidInputError("A reader is identified by a sign-in or an invite.")
        for value in (subject, token_hash):
            if value is not None and not _DIGEST.match(value):
                raise InvalidInputError("Store the reader's identity as a sha256 digest.")
        code = code.strip().upper()
        if self.get_study(code) is None:
            raise InvalidInputError("No study has this code.")
        row = StudyReaderRow(
            id=uuid.uuid4().hex,
            study_code=code,
            name=name,
            seed=int(seed),
            created_at=datetime.now(UTC),
            subject=subject,
            token_hash=token_hash,
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError as exc:
            raise InvalidInputError(
                "This study already has a reader with that label or identity."
            ) from exc
        logger.info("reader added to study %s", code)
        found = self.get_reader(row.id)
        assert found is not None
        return found

    def reader_by_subject(self, code: str, subject: str) -> ReaderRecord | None:
        """The study's reader who signed in with this owner id, or None."""
        query = select(StudyReaderRow).where(
            StudyReaderRow.study_code == code.strip().upper(), StudyReaderRow.subject == subject
        )
        with Session(self._engine) as session:
            row = session.scalars(query).first()
            return None if row is None else _reader(row)

    def reader_by_token_hash(self, token_hash: str) -> ReaderRecord | None:
        """The reader whose invite token hashes to ``token_hash``, or None."""
        query = select(StudyReaderRow).where(StudyReaderRow.token_hash == token_hash)
        with Session(self._engine) as session:
            row = session.scalars(query).first()
            return None if row is None else _reader(row)

    def reader_names(self, code: str) -> set[str]:
        """The labels already used in a study."""
        query = select(StudyReaderRow.name).where(StudyReaderRow.study_code == code)
        with Session(self._engine) as session:
            return set(session.scalars(query))

    def get_reader(self, reader_id: str) -> ReaderRecord | None:
        """The reader with this id, or None."""
        with Session(self._engine) as session:
            row = session.get(StudyReaderRow, reader_id)
            return None if row is None else _reader(row)

    def readers(self, code: str) -> list[ReaderRecord]:
        """Every reader of a study (for the owner's view), by joining time."""
        query = (
            select(StudyReaderRow)
            .where(StudyReaderRow.study_code == code)
            .order_by(StudyReaderRow.created_at, StudyReaderRow.name)
        )
        with Session(self._engine) as session:
            return [_reader(r) for r in session.scalars(query)]

    def add_rating(
        self,
        reader_id: str,
        case_id: str,
        condition: str,
        *,
        score: float,
        call: int,
        reading_time_s: float,
    ) -> tuple[RatingRecord, bool]:
        """Store one rating as given, once.

        Args:
            reader_id: the reader's id.
            case_id: a case of the reader's study.
            condition: ``"unaided"`` or ``"aided"``.
            score: the rating on the study's scale.
            call: 1 for an LMAF call, else 0.
            reading_time_s: seconds from the case's display to the rating.

        Returns:
            ``(rating, created)``: the stored rating, and False when one already existed
            for this (reader, case, condition) and was returned unchanged.

        Raises:
            InvalidInputError: an unknown reader, a case outside their study, or an unknown
                condition.
        """
        if condition not in ("unaided", "aided"):
            raise InvalidInputError("A condition is 'unaided' or 'aided'.")
        existing = self._find_rating(reader_id, case_id, condition)
        if existing is not None:
            return existing, False
        reader = self.get_reader(reader_id)
        if reader is None:
            raise InvalidInputError("Unknown reader.")
        study = self.get_study(reader.study_code)
        if study is None or case_id not in study.truth:
            raise InvalidInputError("This case is not part of the reader's study.")
        row = StudyRatingRow(
            reader_id=reader_id,
            case_id=case_id,
            condition=condition,
            score=float(score),
            call=int(call),
            reading_time_s=max(0.0, float(reading_time_s)),
            created_at=datetime.now(UTC),
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:  # the same rating arrived twice at once
            found = self._find_rating(reader_id, case_id, condition)
            assert found is not None
            return found, False
        found = self._find_rating(reader_id, case_id, condition)
        assert found is not None
        return found, True

    def _find_rating(self, reader_id: str, case_id: str, condition: str) -> RatingRecord | None:
        query = select(StudyRatingRow).where(
            StudyRatingRow.reader_id == reader_id,
            StudyRatingRow.case_id == case_id,
            StudyRatingRow.condition == condition,
        )
        with Session(self._engine) as session:
            row = session.scalars(query).first()
            return None if row is None else _rating(row)

    def reader_ratings(self, reader_id: str) -> list[RatingRecord]:
        """One reader's own ratings, in the order given (a reader sees only these)."""
        query = (
            select(StudyRatingRow)
            .where(StudyRatingRow.reader_id == reader_id)
            .order_by(StudyRatingRow.id)
        )
        with Session(self._engine) as session:
            return [_rating(r) for r in session.scalars(query)]

    def study_ratings(self, code: str) -> list[tuple[str, RatingRecord]]:
        """Every rating of a study as ``(reader name, rating)``: for the key holder only.

        The owner's page calls this only after ``ankle_core.teaching`` verified the key.
        """
        query = (
            select(StudyReaderRow.name, StudyRatingRow)
            .join(StudyReaderRow, StudyReaderRow.id == StudyRatingRow.reader_id)
            .where(StudyReaderRow.study_code == code)
            .order_by(StudyRatingRow.id)
        )
        with Session(self._engine) as session:
            return [(name, _rating(row)) for name, row in session.execute(query).all()]

    def count_ratings(self, code: str) -> int:
        """Number of ratings stored for a study."""
        query = (
            select(func.count(StudyRatingRow.id))
            .join(StudyReaderRow, StudyReaderRow.id == StudyRatingRow.reader_id)
            .where(StudyReaderRow.study_code == code)
        )
        with Session(self._engine) as session:
            return int(session.scalar(query) or 0)
