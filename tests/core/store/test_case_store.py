"""Case history on SQLite and PostgreSQL: sessions are isolated, no identifiers are kept."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from ankle_core.errors import InvalidInputError
from ankle_core.store import CaseStore, scrub_metadata
from ankle_core.types import Box2D

SHA = hashlib.sha256(b"case").hexdigest()


@dataclass(frozen=True)
class _Result:
    box: Box2D
    probability: float
    heatmap: np.ndarray


def _add(store: CaseStore, session: str, **extra: object) -> str:
    fields: dict[str, object] = dict(
        kind="radiograph",
        input_sha256=SHA,
        metadata={"modality": "CR", "inverted": True},
        results={"case_call": "LMAF"},
        model_name="det+cls",
        model_version="1.0.0+1.0.0",
    )
    fields.update(extra)
    return store.add_case(session, **fields).id  # type: ignore[arg-type]


def test_a_session_sees_only_its_own_cases(database_url: str) -> None:
    store = CaseStore.from_url(database_url)
    mine = [_add(store, "session-aaaa"), _add(store, "session-aaaa", kind="ct")]
    theirs = _add(store, "session-bbbb")
    listed = store.list_cases("session-aaaa")
    assert {c.id for c in listed} == set(mine)
    assert listed[0].created_at >= listed[1].created_at  # newest first
    assert [c.id for c in store.list_cases("session-bbbb")] == [theirs]
    assert store.get_case("session-aaaa", theirs) is None
    got = store.get_case("session-bbbb", theirs)
    assert got is not None and got.results["case_call"] == "LMAF"
    assert got.created_at.tzinfo is not None
    store.dispose()


def test_results_are_stored_json_ready_and_small(database_url: str) -> None:
    store = CaseStore.from_url(database_url)
    result = _Result(Box2D(1, 2, 30, 40), np.float32(0.25), np.zeros((8, 16, 16), np.float32))
    case_id = _add(store, "session-aaaa", results=result, source_format="png")
    got = store.get_case("session-aaaa", case_id)
    assert got is not None
    assert got.results["box"] == {"x0": 1, "y0": 2, "x1": 30, "y1": 40}
    assert got.results["probability"] == pytest.approx(0.25)
    assert got.results["heatmap"] == {"array_shape": [8, 16, 16], "dtype": "float32"}
    assert got.source_format == "png"
    store.dispose()


def test_no_patient_identifier_reaches_the_database(database_url: str) -> None:
    store = CaseStore.from_url(database_url)
    metadata = {
        "modality": "CR",
        "PatientName": "DOE^JANE",
        "patient_id": "MRN-998877",
        "nested": {"AccessionNumber": "ACC-12345", "rows": 512},
        "StudyInstanceUID": "1.2.3.4.5",
    }
    case_id = _add(store, "session-aaaa", metadata=metadata)
    got = store.get_case("session-aaaa", case_id)
    assert got is not None
    assert dict(got.metadata) == {"modality": "CR", "nested": {"rows": 512}}
    with store.engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM cases")) for v in row)
    for identifier in ("DOE^JANE", "MRN-998877", "ACC-12345", "1.2.3.4.5"):
        assert identifier not in dump
    store.dispose()


@pytest.mark.parametrize(
    "bad",
    [
        {"session": "x"},
        {"kind": "mri"},
        {"input_sha256": "not-a-hash"},
    ],
)
def test_malformed_cases_are_refused(sqlite_url: str, bad: dict[str, str]) -> None:
    store = CaseStore.from_url(sqlite_url)
    session = bad.pop("session", "session-aaaa")
    with pytest.raises(InvalidInputError):
        _add(store, session, **bad)
    assert store.list_cases("session-aaaa") == []


def test_concurrent_sessions_write_safely(sqlite_url: str) -> None:
    store = CaseStore.from_url(sqlite_url)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(5):
                _add(store, f"session-{i:04d}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(store.list_cases(f"session-{i:04d}")) == 5 for i in range(4))


def test_default_sqlite_folder_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'cases.sqlite'}"
    store = CaseStore.from_url(url)
    _add(store, "session-aaaa")
    assert (tmp_path / "nested" / "dir" / "cases.sqlite").is_file()


def test_scrub_metadata_keeps_reader_facts() -> None:
    facts = {"inverted": True, "window": "VOI LUT", "spacing_mm": (0.1, 0.1), "OperatorsName": "X"}
    assert scrub_metadata(facts) == {
        "inverted": True,
        "window": "VOI LUT",
        "spacing_mm": [0.1, 0.1],
    }


def test_signed_in_history_belongs_to_the_user_across_sessions(database_url: str) -> None:
    store = CaseStore.from_url(database_url)
    ann, bob = "a" * 64, "b" * 64
    mine = _add(store, "session-ann1", owner_id=ann)
    _add(store, "session-bob1", owner_id=bob)
    local = _add(store, "session-loc1")
    # Ann in a new browser session (a reload, another day): still her case, only hers.
    assert [c.id for c in store.list_cases("session-ann2", owner_id=ann)] == [mine]
    assert store.get_case("session-ann2", mine, owner_id=ann) is not None
    assert store.get_case("session-bob1", mine, owner_id=bob) is None
    # A session id never reaches a signed-in user's case, and local mode sees only its own.
    assert [c.id for c in store.list_cases("session-ann1")] == []
    assert [c.id for c in store.list_cases("session-loc1")] == [local]
    with pytest.raises(InvalidInputError, match="owner id"):
        _add(store, "session-ann1", owner_id="ann@hospital.org")
    store.dispose()
