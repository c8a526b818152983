"""CT case: upload a NIfTI or zipped DICOM series, or a demo volume; probability and boxes."""

from __future__ import annotations

import streamlit as st

from ankle_core.errors import AnkleError
from ankle_core.models.card import ModelTask, models_for_task
from ui import history, pacs_panel, resources, widgets
from ui.auth import require_role
from ui.ct_panel import choose_reference_method, render_ct_case
from ui.shell import ensure_app_shell

ensure_app_shell()
require_role("ct_volume")
st.title("CT case")
st.caption(
    "Estimates the probability of an ankle fracture on a CT volume and localises the "
    "evidence with Grad-CAM and Otsu 3D boxes."
)
settings = resources.settings()
models_dir = str(settings.models_dir)
cards = resources.model_cards(models_dir)
ct_models = models_for_task(cards, ModelTask.CT_FRACTURE)

pick_input, pick_model = st.columns([3, 2], gap="large")
with pick_model:
    model = st.selectbox("CT model", ct_models or ["ct-fracture-mobilenet3d"])
    reference_method = choose_reference_method(cards.get(model))
with pick_input:
    source = pacs_panel.choose_case_source("ct", ["nii", "gz", "zip"], settings, key="ct")

failed = False
if source is not None:
    try:
        with st.spinner("Reading the volume and running the CT model…"):
            analysis = resources.ct_analysis(
                source.sha256, model, models_dir, settings.device, reference_method, source.data
            )
        st.session_state["ct_last"] = (source.name, source.sha256, analysis)
        history.record_case(
            resources.case_store(settings.database_url),
            kind="ct",
            input_sha256=source.sha256,
            metadata=analysis.volume.metadata,
            results=analysis.result,
            model_name=model,
            model_version=analysis.result.model.split()[-1],
            source_format=str(analysis.volume.metadata.get("source_format", "volume")),
        )
    except AnkleError as exc:
        failed = True
        st.session_state.pop("ct_last", None)  # never leave the previous case's result
        widgets.show_error(exc)

last = st.session_state.get("ct_last")
if last is None:
    if not failed:
        st.info("Upload a NIfTI (.nii, .nii.gz) or a zipped DICOM series, or pick a demo volume.")
else:
    name, sha256, analysis = last
    render_ct_case(name, sha256, analysis)
    if source is not None and not failed:  # a PACS input can send its results back
        pacs_panel.send_results_panel("ct", analysis, source, settings, key="ct")
