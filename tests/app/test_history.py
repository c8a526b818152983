"""The sidebar history lists this session's cases only (AppTest.from_function)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest


def _sidebar_app(db_url: str) -> None:
    import streamlit as st

    from ankle_core.store import CaseStore
    from ui import history

    store = CaseStore.from_url(db_url)
    store.add_case(
        "someone-else-1",
        kind="ct",
        input_sha256="0" * 64,
        metadata={},
        results={"probability": 0.9, "call": "fracture"},
        model_name="m",
        model_version="1",
    )
    history.record_case(
        store,
        kind="radiograph",
        input_sha256="1" * 64,
        metadata={"PatientName": "X"},
        results={"case_call": "LMAF", "fragments": [{}, {}]},
        model_name="det+cls",
        model_version="1+1",
        source_format="png",
    )
    history.render_history(st.sidebar.container(), store)


def test_history_shows_own_cases_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    at = AppTest.from_function(_sidebar_app, args=(url,), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    listed = "\n".join(m.value for m in at.sidebar.markdown)
    assert listed.count("LMAF · 2 fragments") == 1 and "det+cls (1+1)" in listed
    assert "fracture · p=0.90" not in listed  # another session's case
    assert any("1 case(s) in this session" in c.value for c in at.sidebar.caption)
    session_a = at.session_state["ankle_session_id"]
    at.run()  # a rerun records nothing new
    assert not at.exception
    at2 = AppTest.from_function(_sidebar_app, args=(url,), default_timeout=30)
    at2.run()  # another browser session: a new id, and it sees only its own case
    assert at2.session_state["ankle_session_id"] != session_a
    listed2 = "\n".join(m.value for m in at2.sidebar.markdown)
    assert listed2.count("LMAF · 2 fragments") == 1  # its own case, not the first session's
