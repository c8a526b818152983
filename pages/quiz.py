"""Quiz: commit a call, a confidence (and on real images a click) first; then the reveal."""

from __future__ import annotations

import secrets

import streamlit as st

from ankle_core.teaching import CLASS_NAMES, CLASSES, new_quiz, quiz_results, results_csv
from ankle_core.teaching.quiz_pdf import results_pdf
from ui import teaching, teaching_real
from ui.auth import require_role

require_role("quiz")
st.title("Quiz: predict, then reveal")
_KINDS = {"real": "Real radiographs (FracAtlas)", "phantom": "Synthetic phantoms (LMAF vs SFO)"}
kind = st.sidebar.radio("Quiz images", list(_KINDS), format_func=_KINDS.get, key="quiz_kind")
if kind == "real":
    st.caption(
        "Real radiographs. Say fracture or not, how sure you are, and click where the fracture "
        "is, before anything is revealed."
    )
    teaching_real.render_quiz()
    st.stop()

st.caption("Every case is a synthetic phantom. Commit your call before anything is revealed.")

if st.sidebar.button("Start a new quiz", key="quiz_restart"):
    st.session_state.pop("quiz", None)
quiz = st.session_state.get("quiz")
if quiz is None:
    n = st.number_input("Cases in the quiz", 2, 20, 6, key="quiz_n")
    if st.button("Start the quiz", type="primary", key="quiz_start"):
        pool = teaching.library(n_generated_per_class=2)
        st.session_state["quiz"] = new_quiz(pool, int(n), secrets.randbits(31))
        st.rerun()
    st.stop()

if quiz.phase == "committed":  # the answer is locked: only now may the AI run
    with st.spinner("Running the AI on this case…"):
        quiz.reveal(teaching.opinion_of(teaching.analyse(teaching.case_data(quiz.current))))
st.metric("Running score", f"{quiz.n_correct} / {quiz.n_scored}")
if quiz.finished:
    results = quiz_results(quiz.answers)
    st.subheader("Your results")
    teaching.show_results(results)
    left, right = st.columns(2)
    left.download_button(
        "⬇️ Results (CSV)",
        results_csv(quiz.answers, results),
        file_name="quiz-results.csv",
        mime="text/csv",
        key="quiz_csv",
    )
    right.download_button(
        "⬇️ Results (PDF)",
        results_pdf(quiz.answers, results),
        file_name="quiz-results.pdf",
        mime="application/pdf",
        key="quiz_pdf",
    )
    st.stop()

case = quiz.current
st.markdown(f"**Case {quiz.index + 1} of {len(quiz.cases)}**")
data = teaching.case_data(case)
image_col, answer_col = st.columns([3, 2], gap="large")
if quiz.phase == "commit":
    with image_col:
        teaching.show_image(teaching.case_pixels(case.case_id, data), key=f"quiz_img_{quiz.index}")
    with answer_col, st.form(f"quiz_form_{quiz.index}"):
        call = st.radio(
            "Your call",
            list(CLASSES),
            format_func=CLASS_NAMES.get,
            index=None,
            key=f"quiz_call_{quiz.index}",
        )
        confidence = st.slider(
            "Your confidence in this call (%)", 0, 100, 50, key=f"quiz_conf_{quiz.index}"
        )
        if st.form_submit_button(
            "Commit my answer", type="primary", key=f"quiz_commit_{quiz.index}"
        ):
            if call is None:
                st.warning("Choose a call first.")
            else:
                quiz.commit(call, confidence)
                st.rerun()
else:
    answer = quiz.answers[-1]
    with answer_col:
        verdict = "✅ Right" if answer.correct else "❌ Not quite"
        st.markdown(f"### {verdict}: this is **{CLASS_NAMES[answer.truth]}**")
        st.markdown(f"You said {CLASS_NAMES[answer.call]} ({answer.confidence:.0f}% sure).")
        if answer.model is not None:
            p = "—" if answer.model.p_lmaf is None else f"{answer.model.p_lmaf:.2f}"
            st.markdown(f"The AI said **{answer.model.call}**, p(LMAF) = {p}.")
        teaching.show_signs(answer.truth)
        label = "Next case" if quiz.index + 1 < len(quiz.cases) else "See my results"
        if st.button(label, type="primary", key=f"quiz_next_{quiz.index}"):
            quiz.advance()
            st.rerun()
    with image_col:
        analysis = teaching.analyse(data)
        if analysis is not None:
            teaching.show_analysis(analysis, key=f"quiz_view_{quiz.index}")
