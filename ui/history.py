"""The session's random id and the sidebar list of the cases it analysed."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from ankle_core.store import CaseRecord, CaseStore

__all__ = ["record_case", "render_history", "session_id"]

_KEY = "ankle_session_id"


def session_id() -> str:
    """This browser session's random id (made on first use; never shared)."""
    if _KEY not in st.session_state:
        st.session_state[_KEY] = secrets.token_urlsafe(18)
    value: str = st.session_state[_KEY]
    return value


def record_case(
    store: CaseStore,
    *,
    kind: str,
    input_sha256: str,
    metadata: Mapping[str, Any],
    results: Any,
    model_name: str,
    model_version: str,
    source_format: str | None,
) -> None:
    """Store a case once per session (reruns of the same case add nothing)."""
    done: set[str] = st.session_state.setdefault("ankle_recorded", set())
    key = f"{kind}:{input_sha256}:{model_name}:{model_version}"
    if key in done:
        return
    store.add_case(
        session_id(),
        kind=kind,
        input_sha256=input_sha256,
        metadata=metadata,
        results=results,
        model_name=model_name,
        model_version=model_version,
        source_format=source_format,
    )
    done.add(key)


def _summary(case: CaseRecord) -> str:
    res = case.results
    if case.kind == "radiograph":
        call = res.get("case_call", "?")
        n = len(res.get("fragments", []) or [])
        return f"{call} · {n} fragment{'s' if n != 1 else ''}"
    prob = res.get("probability")
    return f"{res.get('call', '?')} · p={prob:.2f}" if isinstance(prob, float) else "CT"


def render_history(slot: DeltaGenerator, store: CaseStore) -> None:
    """List this session's cases, newest first, in ``slot`` (a sidebar container)."""
    cases = store.list_cases(session_id())
    slot.subheader("Case history")
    if not cases:
        slot.caption("No case analysed in this session yet.")
        return
    slot.caption(f"{len(cases)} case(s) in this session; only you can see them.")
    for case in cases[:20]:
        icon = ":material/radiology:" if case.kind == "radiograph" else ":material/view_in_ar:"
        when = case.created_at.strftime("%H:%M:%S")
        with slot.expander(f"{when} — {_summary(case)}", icon=icon):
            st.caption(f"Input sha256 {case.input_sha256[:16]}…")
            st.caption(f"Models: {case.model_name} ({case.model_version})")
            st.caption(f"Format: {case.source_format or 'unknown'}")
