"""Reader studies: hashed keys, seeded plans, idempotent ratings, own answers only, results."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.stats import mrmc_or
from ankle_core.store import StudyStore
from ankle_core.store.studies import StudyCase
from ankle_core.teaching import (
    StudyKeyError,
    analyse_study,
    check_uploaded_cases,
    create_study,
    hash_key,
    invite_reader,
    join_with_invite,
    long_table,
    open_owner_study,
    parse_labels,
    reader_progress,
    reading_plan,
    study_report_html,
    submit_rating,
    verify_key,
)
from tests.core.teaching.conftest import png_bytes

KEY = "owner-secret-7"
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def test_key_is_hashed_with_salt_and_verified() -> None:
    a, b = hash_key(KEY), hash_key(KEY)
    assert a != b and KEY not in a  # salted, never in clear
    assert verify_key(KEY, a) and not verify_key("wrong-key", a)
    assert not verify_key(KEY, "garbage")
    with pytest.raises(InvalidInputError):
        hash_key("short")


def test_plans_are_seeded_crossed_and_ordered_per_design() -> None:
    ids = [f"c{i}" for i in range(6)]
    same = reading_plan(ids, "same-sitting", 7)
    assert same == reading_plan(ids, "same-sitting", 7)
    assert [s.case_id for s in same] != [s.case_id for s in reading_plan(ids, "same-sitting", 8)]
    assert all(
        same[i].case_id == same[i + 1].case_id and same[i].condition == "unaided"
        for i in range(0, 12, 2)
    )
    wash = reading_plan(ids, "washout", 7)
    assert [s.condition for s in wash] == ["unaided"] * 6 + ["aided"] * 6
    assert {(s.case_id, s.condition) for s in wash} == {(s.case_id, s.condition) for s in same}


def test_study_stores_only_the_key_hash_and_refuses_a_wrong_key(
    study_store: StudyStore, four_cases: list[StudyCase]
) -> None:
    study = create_study(
        study_store, name="t", cases=four_cases, design="same-sitting", scale="5-point", key=KEY
    )
    with study_store._engine.connect() as conn:  # inspect what is stored
        stored = conn.execute(text("SELECT key_hash FROM studies")).scalar_one()
    assert KEY not in stored and verify_key(KEY, stored)
    assert open_owner_study(study_store, study.code, KEY).code == study.code
    with pytest.raises(StudyKeyError):
        open_owner_study(study_store, study.code, "not-the-key")
    with pytest.raises(StudyKeyError):
        open_owner_study(study_store, "NOSUCH12", KEY)


def _read_all(store: StudyStore, reader_id: str, rating_of) -> None:  # type: ignore[no-untyped-def]
    while True:
        progress = reader_progress(store, reader_id, now=NOW)
        if progress.step is None:
            return
        step = progress.step
        submit_rating(store, progress, step, rating_of(step), reading_time_s=1.5)


def test_ratings_are_idempotent_and_private_and_resume_where_stopped(
    study_store: StudyStore, four_cases: list[StudyCase]
) -> None:
    study = create_study(
        study_store, name="t", cases=four_cases, design="same-sitting", scale="5-point", key=KEY
    )
    invite = invite_reader(study_store, study, "  Dr   Ann ")
    ann = join_with_invite(study_store, invite.token)
    assert ann.name == "Dr Ann"
    assert join_with_invite(study_store, invite.token) == ann  # resume: same reader, seed
    progress = reader_progress(study_store, ann.id, now=NOW)
    step = progress.step
    assert step is not None and step.condition == "unaided"
    first, created = submit_rating(study_store, progress, step, 4, 2.0)
    again, created_again = submit_rating(study_store, progress, step, 1, 9.0)  # a reload
    assert created and not created_again and again == first and again.score == 4.0
    assert reader_progress(study_store, ann.id, now=NOW).step == progress.plan[1]
    bob = join_with_invite(study_store, invite_reader(study_store, study, "Dr Bob").token)
    assert bob.id != ann.id
    assert study_store.reader_ratings(bob.id) == []  # Bob sees nothing of Ann's
    assert len(study_store.study_ratings(study.code)) == 1
    with pytest.raises(InvalidInputError):
        submit_rating(study_store, progress, step, 7, 1.0)  # off the 5-point scale


def test_washout_gates_the_aided_session(
    study_store: StudyStore, four_cases: list[StudyCase]
) -> None:
    study = create_study(
        study_store,
        name="w",
        cases=four_cases,
        design="washout",
        washout_days=14,
        scale="0-100",
        key=KEY,
    )
    reader = invite_reader(study_store, study, "R1").reader
    for _ in range(4):
        p = reader_progress(study_store, reader.id, now=datetime.now(UTC))
        assert p.step is not None
        submit_rating(study_store, p, p.step, 60, 1.0)
    waiting = reader_progress(study_store, reader.id, now=datetime.now(UTC))
    assert waiting.step is None and waiting.waiting_until is not None and not waiting.finished
    later = reader_progress(study_store, reader.id, now=datetime.now(UTC) + timedelta(days=15))
    assert later.step is not None and later.step.condition == "aided"


def test_exported_long_table_gives_the_mrmc_numbers(
    study_store: StudyStore, four_cases: list[StudyCase]
) -> None:
    study = create_study(
        study_store, name="m", cases=four_cases, design="same-sitting", scale="5-point", key=KEY
    )
    rng = np.random.default_rng(0)
    for name, noise in (("A", 1.0), ("B", 1.5), ("C", 0.7)):
        reader = invite_reader(study_store, study, name).reader

        def rate(step, noise=noise):  # type: ignore[no-untyped-def]
            base = 4 if study.truth[step.case_id] else 2
            boost = 0.5 if step.condition == "aided" else 0.0
            value = base + boost * (1 if study.truth[step.case_id] else -1)
            return int(np.clip(round(value + rng.normal(0, noise)), 1, 5))

        _read_all(study_store, reader.id, rate)
    table = long_table(study, study_store.study_ratings(study.code))
    assert len(table) == 3 * 2 * 4 and not table.duplicated(["case", "reader", "condition"]).any()
    analysis = analyse_study(table, n_cases=4)
    assert analysis.mrmc is not None and analysis.readers is not None
    csv = table.to_csv(index=False).encode()
    again = mrmc_or(pd.read_csv(io.BytesIO(csv)), "jackknife")
    assert again.difference.difference == pytest.approx(analysis.mrmc.difference.difference)
    assert again.difference.p_value == pytest.approx(analysis.mrmc.difference.p_value)
    np.testing.assert_allclose(again.foms, analysis.mrmc.foms)
    html = study_report_html(analysis, threshold=4.0, n_boot=20)
    assert "Reader study report" in html and "MRMC" in html


def test_uploaded_case_list_names_each_bad_file() -> None:
    labels = parse_labels(b"file,label\na.png,lmaf\nb.png,sfo\nbroken.dcm,none\n")
    files = [
        ("a.png", png_bytes(1)),
        ("b.png", png_bytes(2)),
        ("broken.dcm", b"DICM junk"),
        ("unlabelled.png", png_bytes(3)),
    ]
    check = check_uploaded_cases(files, labels, ReadLimits())
    assert [c.case_id for c in check.readable] == ["a.png", "b.png"]
    assert [name for name, _ in check.bad] == ["broken.dcm", "unlabelled.png"]
    assert all(reason for _, reason in check.bad)
    with pytest.raises(InvalidInputError):
        parse_labels(b"file,label\na.png,maybe\n")


def test_a_typed_name_never_identifies_a_reader_only_an_invite_or_a_sign_in(
    study_store: StudyStore, four_cases: list[StudyCase]
) -> None:
    import ankle_core.teaching as teaching

    assert not hasattr(teaching, "join_study")  # joining by a typed name is gone
    study = create_study(
        study_store, name="t", cases=four_cases, design="same-sitting", scale="5-point", key=KEY
    )
    invite = invite_reader(study_store, study, "Alice")
    with study_store._engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM study_readers")).scalars().all()
    assert invite.token not in str(stored) and len(invite.token) >= 40  # only its hash is kept
    assert invite.token not in repr(invite)
    for guess in ("Alice", study.code, "", invite.token[:-1]):
        with pytest.raises(InvalidInputError, match="not valid"):
            join_with_invite(study_store, guess)
    with pytest.raises(InvalidInputError, match="label"):
        invite_reader(study_store, study, "Alice")  # one reader per label
    assert invite_reader(study_store, study).reader.name == "Reader 2"


def test_signed_in_reader_is_the_same_reader_in_every_session(
    study_store: StudyStore, four_cases: list[StudyCase]
) -> None:
    from ankle_core.teaching import join_signed_in

    study = create_study(
        study_store, name="t", cases=four_cases, design="same-sitting", scale="5-point", key=KEY
    )
    ann, bob = "a" * 64, "b" * 64
    first = join_signed_in(study_store, study.code.lower(), ann, "Dr Smith")
    assert join_signed_in(study_store, study.code, ann, "Dr Smith") == first
    other = join_signed_in(study_store, study.code, bob, "Dr Smith")  # same name, other person
    assert other.id != first.id and other.name == "Dr Smith (2)"
    with pytest.raises(InvalidInputError, match="No study"):
        join_signed_in(study_store, "NOSUCH12", ann, "Dr Smith")


def test_owner_key_attempts_are_rate_limited_per_user_and_in_total(
    study_store: StudyStore, four_cases: list[StudyCase]
) -> None:
    from ankle_core.access import AttemptLimiter, RateLimitedError

    study = create_study(
        study_store, name="t", cases=four_cases, design="same-sitting", scale="5-point", key=KEY
    )
    now = [0.0]
    limiter = AttemptLimiter(per_user=3, total=5, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        with pytest.raises(StudyKeyError):
            open_owner_study(study_store, study.code, "wrong-guess-1", limiter=limiter, who="eve")
    with pytest.raises(RateLimitedError, match="wait"):  # even the right key: no oracle
        open_owner_study(study_store, study.code, KEY, limiter=limiter, who="eve")
    assert open_owner_study(study_store, study.code, KEY, limiter=limiter, who="ann")
    open_owner_study(study_store, study.code, KEY, limiter=limiter, who="bob")
    with pytest.raises(RateLimitedError):  # 5 attempts in all this minute
        open_owner_study(study_store, study.code, KEY, limiter=limiter, who="carol")
    now[0] = 61.0
    assert open_owner_study(study_store, study.code, KEY, limiter=limiter, who="eve")


def test_owner_key_needs_twelve_characters() -> None:
    with pytest.raises(InvalidInputError, match="12 characters"):
        hash_key("elevenchars")
    assert verify_key("twelve-chars", hash_key("twelve-chars"))
