"""Reader-study workflow over :class:`ankle_core.store.StudyStore`: create, join, read, own.

The store keeps rows; this module holds the rules: the key is hashed before it reaches the
store and checked before the owner's data leaves it; each reader's plan is rebuilt from their
recorded seed, so progress is whatever the store holds (a reload or a new browser resumes at
the first unrated step, and nothing is read twice).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ankle_core.access import AttemptLimiter
from ankle_core.errors import InvalidInputError
from ankle_core.store.studies import (
    RatingRecord,
    ReaderRecord,
    StudyCase,
    StudyRecord,
    StudyStore,
)
from ankle_core.teaching.design import (
    DESIGNS,
    SCALES,
    Step,
    aided_opens_at,
    next_step,
    reading_plan,
)
from ankle_core.teaching.keys import hash_key, new_study_code, verify_key

__all__ = [
    "Invite",
    "ReaderProgress",
    "StudyKeyError",
    "create_study",
    "invite_reader",
    "join_signed_in",
    "join_with_invite",
    "open_owner_study",
    "reader_progress",
    "submit_rating",
]

logger = logging.getLogger(__name__)


class StudyKeyError(InvalidInputError):
    """The study key does not open this study (or no study has this code)."""


def create_study(
    store: StudyStore,
    *,
    name: str,
    cases: Sequence[StudyCase],
    design: str,
    scale: str,
    key: str,
    washout_days: float = 0.0,
    code: str | None = None,
) -> StudyRecord:
    """Create a study; the key is hashed here and only the hash is stored.

    Args:
        store: the study store.
        name: the study's title.
        cases: the case list (at least 2 LMAF and 2 non-LMAF for the ROC analyses).
        design: ``"same-sitting"`` or ``"washout"``.
        scale: ``"5-point"`` or ``"0-100"``.
        key: the owner's study key (at least 12 characters).
        washout_days: days between sessions (washout design only).
        code: a chosen study code (default: a random one).

    Returns:
        The stored study (its ``code`` is what readers type).

    Raises:
        InvalidInputError: an unknown design or scale, a short key, too few cases per
            class, or a negative washout.
    """
    if design not in DESIGNS:
        raise InvalidInputError(f"A design is one of {DESIGNS}.")
    if scale not in SCALES:
        raise InvalidInputError(f"A rating scale is one of {tuple(SCALES)}.")
    if washout_days < 0:
        raise InvalidInputError("The washout period cannot be negative.")
    n_pos = sum(c.truth for c in cases)
    if n_pos < 2 or len(cases) - n_pos < 2:
        raise InvalidInputError(
            "A study needs at least 2 LMAF and 2 non-LMAF cases for its ROC analyses."
        )
    study = store.create_study(
        code or new_study_code(),
        name=name.strip() or "Reader study",
        design=design,
        washout_days=washout_days if design == "washout" else 0.0,
        scale=scale,
        key_hash=hash_key(key),
        cases=cases,
    )
    return study


def open_owner_study(
    store: StudyStore,
    code: str,
    key: str,
    *,
    limiter: AttemptLimiter | None = None,
    who: str = "",
) -> StudyRecord:
    """The study, for its owner only.

    Args:
        store: the study store.
        code: the study code.
        key: the study key.
        limiter: counts every attempt per user and in total (the dashboard shares one per
            process); None for no limit (scripts).
        who: the attempting user (owner id or session id), for the per-user limit.

    Returns:
        The study.

    Raises:
        StudyKeyError: an unknown code or a wrong key (the same message for both).
        RateLimitedError: too many attempts in the last minute (checked first).
    """
    if limiter is not None:
        limiter.attempt(who)
    study = store.get_study(code)
    if study is None or not verify_key(key, study.key_hash):
        logger.info("refused an owner view")
        raise StudyKeyError("This study code and key do not match.")
    return study


@dataclass(frozen=True)
class ReaderProgress:
    """Where a reader stands.

    Attributes:
        reader: the reader.
        study: their study.
        plan: their full plan (from the recorded seed).
        ratings: their own stored ratings.
        step: the next step to read, or None (finished, or waiting for the washout).
        waiting_until: when the aided session opens (washout), else None.
    """

    reader: ReaderRecord
    study: StudyRecord
    plan: tuple[Step, ...]
    ratings: tuple[RatingRecord, ...]
    step: Step | None
    waiting_until: datetime | None

    @property
    def n_done(self) -> int:
        """Readings stored."""
        return len(self.ratings)

    @property
    def finished(self) -> bool:
        """Every step is rated."""
        return len(self.ratings) >= len(self.plan)


@dataclass(frozen=True)
class Invite:
    """A per-reader invite: the reader it admits and its token (shown once, never stored).

    Attributes:
        reader: the reader the invite admits.
        token: the unguessable token (32 random bytes, URL-safe) the link carries.
    """

    reader: ReaderRecord
    token: str = field(repr=False)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def invite_reader(store: StudyStore, study: StudyRecord, label: str = "") -> Invite:
    """Issue a per-reader invite (local mode: readers do not sign in).

    Call it only for a study opened with :func:`open_owner_study`. Only the token's sha256
    is stored: a lost link cannot be shown again, only replaced by a new invite.

    Args:
        store: the study store.
        study: the owner's study.
        label: the reader's label in the owner's tables (default ``Reader N``).

    Returns:
        The invite; its token goes in the reader's link (``?invite=TOKEN``).

    Raises:
        InvalidInputError: a label already used in the study.
    """
    taken = store.reader_names(study.code)
    if not label.strip():
        n = len(taken) + 1
        while f"Reader {n}" in taken:
            n += 1
        label = f"Reader {n}"
    token = secrets.token_urlsafe(32)
    reader = store.add_reader(
        study.code, name=label, seed=secrets.randbits(31), token_hash=_token_hash(token)
    )
    return Invite(reader, token)


def join_with_invite(store: StudyStore, token: str) -> ReaderRecord:
    """The reader an invite token admits (join or resume).

    Args:
        store: the study store.
        token: the token of the reader's invite link.

    Returns:
        The reader.

    Raises:
        InvalidInputError: a token no invite matches.
    """
    reader = store.reader_by_token_hash(_token_hash(token)) if token.strip() else None
    if reader is None:
        logger.info("refused an unknown invite token")
        raise InvalidInputError(
            "This invite link is not valid. Ask the study owner for your own invite link."
        )
    return reader


def join_signed_in(store: StudyStore, code: str, owner_id: str, display_name: str) -> ReaderRecord:
    """Join (or resume) a study as the signed-in user; their sign-in is their identity.

    Args:
        store: the study store.
        code: the study code.
        owner_id: the user's owner id (``ankle_core.access.User.owner_id``).
        display_name: their name from the identity provider (the label in the owner's tables).

    Returns:
        The reader (the same one in every session of this user).

    Raises:
        InvalidInputError: an unknown study code.
    """
    code = code.strip().upper()
    if store.get_study(code) is None:
        raise InvalidInputError("No study has this code.")
    existing = store.reader_by_subject(code, owner_id)
    if existing is not None:
        return existing
    taken = store.reader_names(code)
    label = " ".join(display_name.split())[:90] or "Reader"
    base, n = label, 2
    while label in taken:
        label, n = f"{base} ({n})", n + 1
    try:
        return store.add_reader(code, name=label, seed=secrets.randbits(31), subject=owner_id)
    except InvalidInputError:  # joined at the same moment from another tab
        found = store.reader_by_subject(code, owner_id)
        if found is None:
            raise
        return found


def reader_progress(store: StudyStore, reader_id: str, *, now: datetime) -> ReaderProgress:
    """A reader's plan and next step, from their own stored ratings only.

    Args:
        store: the study store.
        reader_id: the reader's id.
        now: the current time (UTC), for the washout gate.

    Returns:
        The progress.

    Raises:
        InvalidInputError: an unknown reader.
    """
    reader = store.get_reader(reader_id)
    study = None if reader is None else store.get_study(reader.study_code)
    if reader is None or study is None:
        raise InvalidInputError("Unknown reader; join the study again.")
    plan = reading_plan(study.case_ids, study.design, reader.seed)
    ratings = tuple(store.reader_ratings(reader_id))
    done = {(r.case_id, r.condition) for r in ratings}
    step = next_step(plan, done)
    waiting = None
    if step is not None and step.condition == "aided" and study.design == "washout":
        last = max((r.created_at for r in ratings if r.condition == "unaided"), default=None)
        opens = aided_opens_at(study.design, study.washout_days, last)
        if opens is not None and now < opens:
            step, waiting = None, opens
    return ReaderProgress(reader, study, plan, ratings, step, waiting)


def submit_rating(
    store: StudyStore, progress: ReaderProgress, step: Step, rating: float, reading_time_s: float
) -> tuple[RatingRecord, bool]:
    """Store the reader's rating of a step, as given (idempotent).

    Args:
        store: the study store.
        progress: the reader's progress when the step was shown.
        step: the step rated (must be in the reader's plan).
        rating: the rating on the study's scale.
        reading_time_s: seconds from display to rating.

    Returns:
        ``(rating, created)`` as :meth:`StudyStore.add_rating`.

    Raises:
        InvalidInputError: a step outside the plan or a rating off the scale.
    """
    if step not in progress.plan:
        raise InvalidInputError("This reading is not part of your plan.")
    scale = SCALES[progress.study.scale]
    value = scale.check(rating)
    return store.add_rating(
        progress.reader.id,
        step.case_id,
        step.condition,
        score=value,
        call=scale.call(value),
        reading_time_s=reading_time_s,
    )
