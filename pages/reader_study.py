"""Reader study: join as yourself (sign-in or your invite link), then read each case as planned."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import streamlit as st

from ankle_core.teaching import reader_progress, submit_rating
from ui import reader_study, teaching, teaching_real
from ui.auth import require_role

user = require_role("reader_study")
st.title("Reader study")
store = reader_study.study_store()
reader_id = reader_study.join_or_resume(store, user)

progress = reader_progress(store, reader_id, now=datetime.now(UTC))
st.caption(f"Study **{progress.study.name}** · reader **{progress.reader.name}**")
st.progress(
    progress.n_done / len(progress.plan),
    f"{progress.n_done} of {len(progress.plan)} readings stored",
)
if st.sidebar.button("Leave this study", key="rs_leave"):
    st.session_state.pop("rs_reader")
    st.query_params.clear()
    st.rerun()

if progress.finished:
    st.success("All your readings are stored. Thank you!")
if progress.waiting_until is not None:
    st.info(f"Washout: the aided session opens on {progress.waiting_until:%Y-%m-%d %H:%M} UTC.")
step = progress.step
if step is not None:
    aided = step.condition == "aided"
    st.subheader("🤖 Aided: the AI's output is shown" if aided else "🙈 Unaided: read on your own")
    started = reader_study.reading_started(progress.reader.id, step)
    data = store.case_data(progress.study.code, step.case_id)
    image_col, rating_col = st.columns([3, 2], gap="large")
    real = teaching_real.is_real_case(step.case_id)
    with image_col:
        analysis = teaching.analyse(data) if aided and not real else None
        if real:
            teaching_real.show_study_case(step.case_id, aided=aided)
        elif analysis is not None:
            teaching.show_analysis(analysis, key=f"rs_view_{step.position}")
        else:
            teaching.show_image(
                teaching.case_pixels(step.case_id, data), key=f"rs_img_{step.position}"
            )
    with rating_col, st.form(f"rs_form_{progress.reader.id}_{step.position}"):
        rating = reader_study.rating_widget(
            progress.study.scale,
            key=f"rs_rating_{step.position}",
            question="How confident are you that this image shows a fracture?" if real else None,
        )
        if st.form_submit_button(
            "Submit this rating", type="primary", key=f"rs_submit_{step.position}"
        ):
            if rating is None:
                st.warning("Choose a rating first.")
            else:
                submit_rating(store, progress, step, rating, time.monotonic() - started)
                st.rerun()

with st.expander(f"Your own answers so far ({progress.n_done})"):
    rows = [
        {
            "#": i,
            "Case": r.case_id,
            "Condition": r.condition,
            "Rating": r.score,
            "Reading time (s)": round(r.reading_time_s, 1),
        }
        for i, r in enumerate(progress.ratings, start=1)
    ]
    st.dataframe(rows, hide_index=True)
