"""Study owner: create a reader study, or open its results with the study key."""

from __future__ import annotations

import streamlit as st

from ankle_core.errors import InvalidInputError
from ankle_core.teaching import (
    DESIGNS,
    SCALES,
    analyse_study,
    create_study,
    long_table,
    open_owner_study,
)
from ui import reader_study, resources, teaching_real, widgets
from ui.auth import require_role
from ui.history import owner_of

user = require_role("study_owner")
st.title("Study owner")
store = reader_study.study_store()
create_tab, results_tab = st.tabs(["Create a study", "Results"])

with create_tab:
    if st.button("Create the demo study on real FracAtlas cases", key="own_demo"):
        code, demo_key = teaching_real.create_demo_study(store)
        st.success(f"Demo study created: code **{code}**, study key `{demo_key}` (shown once).")
    name = st.text_input("Study name", "LMAF vs SFO reader study", key="own_name")
    cases = reader_study.case_list_picker()
    design = st.radio(
        "Design",
        DESIGNS,
        horizontal=True,
        key="own_design",
        help="Same sitting: each case unaided, then at once aided. Washout: two sessions.",
    )
    washout = st.number_input(
        "Washout (days)", 0.0, 90.0, 14.0, key="own_washout", disabled=design != "washout"
    )
    scale = st.radio("Rating scale", list(SCALES), horizontal=True, key="own_scale")
    key = st.text_input(
        "Study key (protects the results; at least 12 characters)", type="password", key="own_key"
    )
    if cases and st.button(
        f"Create the study ({len(cases)} cases)", type="primary", key="own_create"
    ):
        try:
            study = create_study(
                store,
                name=name,
                cases=cases,
                design=design,
                scale=scale,
                key=key,
                washout_days=washout,
            )
        except InvalidInputError as exc:
            widgets.show_error(exc)
        else:
            st.success(f"Study created. Readers join with the code **{study.code}**.")
            if not user.signed_in:
                st.caption("Local mode: give each reader an invite link (Results tab).")

with results_tab:
    with st.form("own_open"):
        code = st.text_input("Study code", key="own_code")
        typed = st.text_input("Study key", type="password", key="own_typed_key")
        opened = st.form_submit_button("Open the results", key="own_open_btn")
    if opened:
        try:
            st.session_state["own_study"] = open_owner_study(
                store, code, typed, limiter=resources.owner_key_limiter(), who=owner_of(user)
            ).code
        except InvalidInputError as exc:
            st.session_state.pop("own_study", None)
            widgets.show_error(exc)
    own = (
        store.get_study(st.session_state.get("own_study", ""))
        if "own_study" in st.session_state
        else None
    )
    if own is not None:
        st.markdown(
            f"**{own.name}** · code `{own.code}` · {own.design} · "
            f"{len(own.case_ids)} cases · scale {own.scale}"
        )
        table = long_table(own, store.study_ratings(own.code))
        analysis = analyse_study(table, len(own.case_ids))
        reader_study.results_sections(analysis)
        st.download_button(
            "⬇️ Long-format CSV (for ankle_core.stats)",
            table.to_csv(index=False),
            file_name=f"reader-study-{own.code}.csv",
            mime="text/csv",
            key="own_csv",
        )
        reader_study.html_report_button(own, analysis)
        reader_study.invite_section(store, own, user)
