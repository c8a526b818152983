"""Cohort performance: ROC with CI bands, AUCs, DeLong/McNemar, thresholds, calibration."""

from __future__ import annotations

import streamlit as st

from ankle_core.errors import AnkleError
from ankle_core.models.card import ModelTask, models_for_task
from ui import cohort, resources, widgets
from ui.analysis import sha256_hex
from ui.auth import require_role
from ui.shell import ensure_app_shell

ensure_app_shell()
require_role("cohort")
st.title("Cohort performance")
st.caption("How well models (and readers) separate positive from negative cases in a cohort.")
settings = resources.settings()
cards = resources.model_cards(str(settings.models_dir))

REAL = "Run a model on the FracAtlas validation cohort"
source = st.radio(
    "Cohort",
    ["Run a model on the phantom cohort", REAL, "Upload a predictions CSV"],
    horizontal=True,
    key="cohort_source",
)
if source == REAL:
    cohort.real_cohort_controls(cards, settings)
elif source.startswith("Upload"):
    upload = st.file_uploader("Predictions CSV (one row per case)", type=["csv"], key="cohort_csv")
    if upload is not None:
        try:
            st.session_state["cohort_frame"] = cohort.read_predictions_csv(upload.getvalue())
        except AnkleError as exc:
            widgets.show_error(exc)
else:
    kinds: dict[str, str] = {"radiograph": "Radiograph (LMAF vs SFO)", "ct": "CT (fracture)"}
    c1, c2, c3 = st.columns([2, 3, 1])
    kind = c1.selectbox("Task", list(kinds), format_func=lambda k: kinds[k], key="cohort_kind")
    task = ModelTask.LMAF_VS_SFO if kind == "radiograph" else ModelTask.CT_FRACTURE
    names = models_for_task(cards, task)
    models = c2.multiselect("Models", names, default=names, key="cohort_models")
    n = c3.number_input("Cases", 10, 200, 24, 2, key="cohort_n")
    if st.button("Run", type="primary", disabled=not models, key="cohort_run"):
        bar = st.progress(0.0, "Generating phantom cases…")
        try:
            st.session_state["cohort_frame"] = cohort.phantom_predictions(
                str(kind), models, int(n), 1000, settings, lambda f, m: bar.progress(f, m)
            )
        except AnkleError as exc:
            widgets.show_error(exc)
        bar.empty()

frame = st.session_state.get("cohort_frame")
if frame is None:
    st.info("Run a model on the phantom cohort, or upload a CSV with a 0/1 truth column.")
else:
    columns = list(frame.columns)
    numeric = [c for c in columns if frame[c].dtype.kind in "fiub"]
    c1, c2, c3 = st.columns(3)
    truth: str = c1.selectbox(
        "Truth column (1 = positive)",
        numeric,
        index=numeric.index("truth") if "truth" in numeric else 0,
    )
    scores = c2.multiselect(
        "Score columns",
        [c for c in numeric if c != truth],
        default=[c for c in numeric if c != truth][:4],
    )
    groups = [""] + [c for c in columns if c not in numeric and 1 < frame[c].nunique() <= 12]
    subgroup = c3.selectbox(
        "Subgroup column", groups, index=min(1, len(groups) - 1), format_func=lambda c: c or "none"
    )
    if scores:
        key = sha256_hex(frame.to_csv(index=False).encode())
        try:
            with st.spinner("Computing ROC curves, intervals and tests…"):
                joined = "|".join(scores)
                group = subgroup or ""
                report = resources.cohort_report(key, truth, joined, group, 500, frame)
                html = resources.cohort_html(key, truth, joined, group, 500, report)
            widgets.research_note()
            cohort.show_report(report, html)
            st.subheader("Threshold explorer")
            points = {m: cards[m].operating_points.default for m in scores if m in cards}
            cohort.show_threshold_explorer(frame, truth, scores, points)
        except AnkleError as exc:
            widgets.show_error(exc)
