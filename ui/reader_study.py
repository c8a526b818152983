"""Streamlit helpers of the reader-study pages: the store, the rating widget, result tables.

The study store shares the case store's engine (``ui.resources.case_store``, migrated to
the newest revision), so it needs no cache of its own.
"""

from __future__ import annotations

import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ankle_core.access import User
from ankle_core.errors import InvalidInputError
from ankle_core.stats import MrmcResult, ReaderStudyResult
from ankle_core.store import StudyStore
from ankle_core.store.studies import StudyCase, StudyRecord
from ankle_core.teaching import (
    SCALES,
    RatingScale,
    Step,
    StudyAnalysis,
    bundled_study_cases,
    check_uploaded_cases,
    invite_reader,
    join_signed_in,
    join_with_invite,
    parse_labels,
    study_report_html,
)
from ui import resources, teaching, widgets

__all__ = [
    "auc_figure",
    "case_list_picker",
    "html_report_button",
    "invite_section",
    "join_or_resume",
    "mrmc_frame",
    "mrmc_headline",
    "paired_frame",
    "per_reader_frame",
    "rating_widget",
    "reading_started",
    "results_sections",
    "study_store",
]


def study_store() -> StudyStore:
    """The reader-study store on the app's database."""
    settings = resources.settings()
    return StudyStore(resources.case_store(settings.database_url).engine)


def _token_from(text: str) -> str:
    """The invite token in a pasted link (``...?invite=TOKEN``) or the bare token."""
    text = text.strip()
    if "invite=" in text:
        text = text.split("invite=", 1)[1].split("&", 1)[0]
    return text


def join_or_resume(store: StudyStore, user: User) -> str:
    """This session's reader id; shows how to join and stops the run until there is one.

    Signed in, the reader is the user (the study code in the URL resumes after a reload).
    In local mode, the reader is whoever holds a per-reader invite link (``?invite=TOKEN``).
    A typed name never identifies a reader.
    """
    if "rs_reader" in st.session_state and st.session_state.get("rs_user") == user.owner_id:
        reader_id: str = st.session_state["rs_reader"]
        return reader_id
    st.session_state["rs_user"] = user.owner_id
    params = st.query_params
    try:
        if user.signed_in and params.get("study"):
            reader = join_signed_in(store, params["study"], user.owner_id, user.display_name)
        elif not user.signed_in and params.get("invite"):
            reader = join_with_invite(store, params["invite"])
        else:
            reader = None
    except InvalidInputError as exc:
        st.query_params.clear()
        widgets.show_error(exc)
        reader = None
    if reader is not None:
        st.session_state["rs_reader"] = reader.id
        return reader.id
    st.caption("Your answers are stored as you give them; you can close the browser and resume.")
    with st.form("rs_join"):
        if user.signed_in:
            typed = st.text_input("Study code", key="rs_code")
            st.caption(f"You read as **{user.display_name}** (your sign-in).")
        else:
            typed = st.text_input("Your invite link (from the study owner)", key="rs_invite")
        if st.form_submit_button("Join or resume", type="primary", key="rs_join_btn"):
            try:
                if user.signed_in:
                    reader = join_signed_in(store, typed, user.owner_id, user.display_name)
                    st.query_params.update({"study": reader.study_code})
                else:
                    token = _token_from(typed)
                    reader = join_with_invite(store, token)
                    st.query_params.update({"invite": token})
            except InvalidInputError as exc:
                widgets.show_error(exc)
            else:
                st.session_state["rs_reader"] = reader.id
                st.rerun()
    st.stop()


def invite_section(store: StudyStore, study: StudyRecord, user: User) -> None:
    """The owner's per-reader invite links (local mode); signed-in readers use the code."""
    st.subheader("Readers")
    if user.signed_in:
        st.caption(
            f"Readers sign in and join with the code **{study.code}**; their sign-in is "
            "their identity."
        )
        return
    st.caption(
        "Each reader needs their own invite link: whoever holds a link reads as that reader. "
        "A link is shown once (the server keeps only a hash of it); issue a new one if lost."
    )
    label = st.text_input("Reader label (optional, e.g. R1)", key="own_invite_label")
    if st.button("Create an invite link", key="own_invite"):
        try:
            invite = invite_reader(store, study, label)
        except InvalidInputError as exc:
            widgets.show_error(exc)
        else:
            base = (st.context.url or "").split("?", 1)[0].rsplit("/", 1)[0]
            st.success(f"Invite for **{invite.reader.name}** (copy it now):")
            st.code(f"{base}/reader_study?invite={invite.token}", language=None)


def reading_started(reader_id: str, step: Step) -> float:
    """When this step was first shown in this browser session (monotonic seconds)."""
    starts: dict[str, float] = st.session_state.setdefault("rs_started", {})
    return starts.setdefault(f"{reader_id}:{step.position}", time.monotonic())


def rating_widget(scale_name: str, key: str, question: str | None = None) -> float | None:
    """The study's rating scale: five labelled choices, or a 0–100 slider."""
    scale: RatingScale = SCALES[scale_name]
    question = question or "How confident are you that this is an LMAF (a fracture)?"
    if scale.labels:
        choice = st.radio(question, scale.labels, index=None, key=key)
        return None if choice is None else float(scale.labels.index(choice) + scale.low)
    return float(st.slider(question + " (0–100)", scale.low, scale.high, 50, key=key))


def _ci(lo: float, hi: float) -> str:
    return f"{lo:.2f}–{hi:.2f}"


def per_reader_frame(result: ReaderStudyResult) -> pd.DataFrame:
    """Accuracy, sensitivity and specificity per reader and condition, with Wilson CIs."""
    rows = []
    for m in result.per_reader:
        row: dict[str, object] = {"Reader": m.reader, "Condition": m.condition}
        for name in ("accuracy", "sensitivity", "specificity"):
            metric = getattr(m, name)
            row[name.capitalize()] = (
                f"{metric.value:.2f} ({_ci(metric.wilson_low, metric.wilson_high)})"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def paired_frame(result: ReaderStudyResult) -> pd.DataFrame:
    """The paired t-test of aided − unaided per metric, across readers."""
    return pd.DataFrame(
        [
            {
                "Metric": t.metric,
                "Mean difference (aided − unaided)": round(t.mean_difference, 4),
                "95% CI": _ci(t.ci_low, t.ci_high),
                "t": round(t.statistic, 3),
                "df": t.df,
                "p": f"{t.p_value:.4g}",
            }
            for t in result.paired_t
        ]
    )


def mrmc_headline(res: MrmcResult) -> str:
    """One line: the OR (RRRC) AUC difference with its CI and p-value."""
    d = res.difference
    pct = f"{res.level:.0%}"
    return (
        f"AUC aided − unaided = **{d.difference:+.4f}** ({pct} CI {d.ci_low:.4f} to "
        f"{d.ci_high:.4f}), F = {res.rrrc.statistic:.3f}, df = 1, {res.rrrc.df2:.2f}, "
        f"**p = {res.rrrc.p_value:.4f}**"
    )


def mrmc_frame(res: MrmcResult) -> pd.DataFrame:
    """Reader-averaged AUC per condition with its RRRC CI."""
    return pd.DataFrame(
        [
            {"Condition": e.test, "Mean AUC": round(e.estimate, 4), "CI": _ci(e.ci_low, e.ci_high)}
            for e in res.rrrc.estimates
        ]
    )


def auc_figure(res: MrmcResult) -> go.Figure:
    """Each reader's unaided and aided AUC (one line per reader)."""
    fig = go.Figure()
    for j, reader in enumerate(res.readers):
        fig.add_trace(
            go.Scatter(x=list(res.tests), y=res.foms[:, j], mode="lines+markers", name=reader)
        )
    fig.update_layout(
        yaxis_title="AUC", xaxis_title="Condition", height=360, margin=dict(t=30, b=30)
    )
    return fig


def results_sections(analysis: StudyAnalysis) -> None:
    """Every result section of the owner's page."""
    for note in analysis.notes:
        st.info(note)
    if analysis.incomplete_readers:
        st.caption(
            "Still reading (left out): "
            + ", ".join(f"{r} ({n} readings)" for r, n in analysis.incomplete_readers.items())
        )
    if analysis.readers is not None:
        st.subheader("Per reader and condition (95% Wilson CIs)")
        st.dataframe(per_reader_frame(analysis.readers), hide_index=True)
        st.subheader("Paired test, aided vs unaided (across readers)")
        st.dataframe(paired_frame(analysis.readers), hide_index=True)
    if analysis.mrmc is not None:
        st.subheader("MRMC: Obuchowski–Rockette (jackknife, Hillis df), random readers and cases")
        st.markdown(mrmc_headline(analysis.mrmc))
        st.dataframe(mrmc_frame(analysis.mrmc), hide_index=True)
        st.plotly_chart(auc_figure(analysis.mrmc), key="owner_auc_plot")


def case_list_picker() -> list[StudyCase]:
    """Bundled phantom cases, or an uploaded set checked file by file (bad files named).

    Returns:
        The cases to create the study from; empty until the list is usable (for an upload
        with bad files: until the owner confirms using the readable ones only).
    """
    source = st.radio(
        "Cases",
        ["Bundled phantom cases", "Real FracAtlas cases", "Upload a set"],
        horizontal=True,
        key="own_source",
    )
    if source == "Real FracAtlas cases":
        return _real_case_list()
    if source == "Bundled phantom cases":
        n_gen = st.slider("Add generated phantoms per class", 0, 5, 0, key="own_generated")
        pool = {c.title: c for c in teaching.library(n_gen)}
        chosen = st.multiselect(
            "Cases in the study", list(pool), default=list(pool), key="own_cases"
        )
        return bundled_study_cases([pool[t] for t in chosen])
    files = st.file_uploader(
        "Radiographs (DICOM, PNG, JPEG)",
        ["dcm", "dicom", "png", "jpg", "jpeg"],
        accept_multiple_files=True,
        key="own_files",
    )
    labels_file = st.file_uploader("Labels CSV (columns file, label)", ["csv"], key="own_labels")
    if not files or labels_file is None:
        st.caption("Upload the radiographs and a labels CSV (label: lmaf, sfo, none, or 1/0).")
        return []
    try:
        labels = parse_labels(labels_file.getvalue())
    except InvalidInputError as exc:
        widgets.show_error(exc)
        return []
    check = check_uploaded_cases(
        [(f.name, f.getvalue()) for f in files], labels, resources.settings().limits
    )
    if not check.bad:
        st.success(f"All {len(check.readable)} files read cleanly.")
        return list(check.readable)
    st.error(
        f"{len(check.bad)} file(s) cannot be used:\n"
        + "\n".join(f"- **{name}**: {reason}" for name, reason in check.bad)
    )
    if check.readable and st.checkbox(
        f"Create the study from the {len(check.readable)} readable case(s) only",
        key="own_confirm",
    ):
        return list(check.readable)
    return []


def _real_case_list() -> list[StudyCase]:
    """A chosen number of fractured and non-fractured real cases (positive: fracture)."""
    from ankle_core.teaching import real_study_cases
    from ui import teaching_real

    left, right = st.columns(2)
    n_pos = left.number_input("Fractured cases", 0, 36, 6, key="own_real_pos")
    n_neg = right.number_input("Cases without a fracture", 0, 28, 6, key="own_real_neg")
    teaching_real.credit()
    try:
        return real_study_cases(teaching_real.real_library(), int(n_pos), int(n_neg), seed=0)
    except InvalidInputError as exc:
        widgets.show_error(exc)
        return []


def html_report_button(study: StudyRecord, analysis: StudyAnalysis) -> None:
    """Prepare (on request) and offer the HTML report of a study."""
    if analysis.mrmc is None:
        st.caption("The HTML report needs at least 2 readers who finished both conditions.")
        return
    store = study_store()
    stamp = (study.code, len(analysis.table))
    if st.button("Prepare the HTML report", key="own_html_make"):
        with st.spinner("Running the AI on the study's cases and writing the report…"):
            opinions = {
                c: teaching.opinion_of(teaching.analyse(store.case_data(study.code, c)))
                for c in study.case_ids
            }
            scores = None
            if all(o is not None for o in opinions.values()):
                scores = {c: o.score for c, o in opinions.items() if o is not None}
            html = study_report_html(
                analysis, threshold=SCALES[study.scale].threshold, model_scores=scores
            )
        st.session_state["own_html_ready"] = (stamp, html)
    ready = st.session_state.get("own_html_ready")
    if ready is not None and ready[0] == stamp:
        st.download_button(
            "⬇️ HTML report",
            ready[1],
            file_name=f"reader-study-{study.code}.html",
            mime="text/html",
            key="own_html",
        )
