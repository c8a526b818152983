"""The session's random id and the sidebar list of the cases its user analysed.

Signed in, the history belongs to the user (keyed by their owner id, so it survives reloads
and new sessions); in local mode it belongs to the browser session.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from ankle_core.access import User
from ankle_core.store import CaseRecord, CaseStore
from ui import auth, resources

__all__ = ["owner_id", "owner_of", "record_case", "render_history", "session_id"]

_KEY = "ankle_session_id"


def session_id() -> str:
    """This browser session's random id (made on first use; never shared)."""
    if _KEY not in st.session_state:
        st.session_state[_KEY] = secrets.token_urlsafe(18)
    value: str = st.session_state[_KEY]
    return value


def owner_id() -> str | None:
    """The signed-in user's owner id, or None in local mode (the session's history)."""
    user = auth.current_user(resources.settings())
    return user.owner_id if user is not None and user.signed_in else None


def owner_of(user: User) -> str:
    """Who is attempting something, for per-user limits: the owner id, or this session."""
    return user.owner_id if user.signed_in else session_id()


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
        owner_id=owner_id(),
    )
    done.add(key)


def _summary(case: CaseRecord) -> str:
    res = case.results
    if case.kind == "radiograph":
        call = res.get("case_call", "?")
        n = len(res.get("fragments", []) or [])
        text = f"{call} · {n} fragment{'s' if n != 1 else ''}"
        loc = res.get("fracture_localiser")
        if isinstance(loc, dict) and isinstance(loc.get("image_score"), float):
            text = f"fracture score {loc['image_score']:.2f} · " + text
        return text
    prob = res.get("probability")
    return f"{res.get('call', '?')} · p={prob:.2f}" if isinstance(prob, float) else "CT"


def render_history(slot: DeltaGenerator, store: CaseStore) -> None:
    """List the user's (or this session's) cases, newest first, in ``slot`` (sidebar)."""
    owner = owner_id()
    cases = store.list_cases(session_id(), owner_id=owner)
    where = "your history" if owner else "this session"
    slot.subheader("Case history")
    if not cases:
        slot.caption(f"No case analysed in {where} yet.")
        return
    slot.caption(f"{len(cases)} case(s) in {where}; only you can see them.")
    # one list, not an expander per case: the sidebar is redrawn on every interaction, and
    # its elements were a large part of the browser's work per upload (docs/performance.md)
    lines = []
    for case in cases[:20]:
        icon = ":material/radiology:" if case.kind == "radiograph" else ":material/view_in_ar:"
        when = case.created_at.strftime("%H:%M:%S")
        details = (
            f"{case.model_name} ({case.model_version}) · {case.source_format or 'unknown format'}"
            f" · sha256 {case.input_sha256[:12]}…"
        )
        summary = _escape(_summary(case))
        lines.append(f"- {icon} **{when}** — {summary}  \n  :gray[{_escape(details)}]")
    slot.container(key="case_history").markdown("\n".join(lines))


def _escape(text: str) -> str:
    """Text shown literally inside Streamlit markdown (no emphasis, links or directives)."""
    return "".join(f"\\{c}" if c in "\\`*_[]<>#|~:" else c for c in text)
