"""Teaching library: real FracAtlas radiographs, and the LMAF/SFO phantoms as a separate set."""

from __future__ import annotations

import streamlit as st

from ankle_core.teaching import CLASS_NAMES, CLASSES, DIFFICULTIES, difficulty_bin, filter_cases
from ui import teaching, teaching_real
from ui.auth import require_role

require_role("library")
st.title("Teaching library")
_COLLECTIONS = {
    "real": "Real radiographs (FracAtlas)",
    "phantom": "Synthetic phantoms (LMAF vs SFO)",
}
collection = st.sidebar.radio(
    "Collection", list(_COLLECTIONS), format_func=_COLLECTIONS.get, key="lib_collection"
)
if collection == "real":
    st.caption(
        "Real leg, ankle and foot radiographs with fractures and without, from FracAtlas, "
        "with their annotated fracture boxes and masks."
    )
    teaching_real.render_library()
    st.stop()

st.caption(
    "Lateral malleolar avulsion fracture (LMAF) or subfibular ossicle (SFO)? Every case here "
    "is a **synthetic phantom** with known ground truth, not a patient."
)

with st.sidebar:
    st.markdown("**Library filters**")
    classes = st.multiselect(
        "Class",
        list(CLASSES),
        default=list(CLASSES),
        format_func=CLASS_NAMES.__getitem__,
        key="lib_classes",
    )
    views = st.multiselect("View", ["ap", "mortise"], default=["ap", "mortise"], key="lib_views")
    difficulties = st.multiselect(
        "Difficulty (from the AI's confidence)",
        list(DIFFICULTIES),
        default=[],
        key="lib_difficulty",
        help="Easy: the AI is confidently right; hard: it is wrong or unsure.",
    )
    n_generated = st.slider("Generated phantoms per class", 0, 5, 0, key="lib_generated")

cases = teaching.library(n_generated)
bins = None
if difficulties:
    bins = {}
    with st.spinner("Asking the AI about every case to grade its difficulty…"):
        for case in cases:
            opinion = teaching.opinion_of(teaching.analyse(teaching.case_data(case)))
            if opinion is not None:
                bins[case.case_id] = difficulty_bin(case.label, opinion)
shown = filter_cases(
    cases, classes=classes, views=views, difficulties=difficulties or None, difficulty_of=bins
)
st.markdown(f"**{len(shown)} of {len(cases)} cases**")
if not shown:
    st.info("No case matches these filters.")

for case in shown:
    with st.container(border=True):
        st.markdown(f"#### {case.title}")
        truth = CLASS_NAMES[case.label]
        st.caption(f":material/science: {case.provenance} — ground truth: **{truth}**")
        image_col, signs_col = st.columns([3, 2], gap="large")
        data = teaching.case_data(case)
        with signs_col:
            teaching.show_signs(case.label)
            other = "sfo" if case.label == "lmaf" else "lmaf"
            with st.expander(f"Compare: signs of {CLASS_NAMES[other]}"):
                teaching.show_signs(other)
            show_ai = st.toggle("Show the AI's call and saliency", key=f"lib_ai_{case.case_id}")
        with image_col:
            if show_ai:
                with st.spinner("Running the AI on this case…"):
                    analysis = teaching.analyse(data)
                if analysis is not None:
                    teaching.show_analysis(analysis, key=f"lib_view_{case.case_id}")
            else:
                teaching.show_image(
                    teaching.case_pixels(case.case_id, data), key=f"lib_img_{case.case_id}"
                )
