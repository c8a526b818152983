"""Radiograph case: upload or pick a demo; fragments, LMAF/SFO calls, Grad-CAM, PDF report."""

from __future__ import annotations

import streamlit as st

from ankle_core.errors import AnkleError
from ankle_core.models.card import ModelTask, models_for_task
from ui import history, pacs_panel, resources, widgets
from ui.auth import require_role
from ui.localiser_panel import (
    is_project_phantom,
    render_leg_finding,
    render_localiser_section,
    wanted_leg_result,
    with_localiser,
)
from ui.radiograph_panel import render_radiograph_case
from ui.shell import ensure_app_shell

DEFAULT_CLASSIFIER = "lmaf-classifier-mobilenetv2"

ensure_app_shell()
require_role("radiograph")
st.title("Radiograph case")
st.caption(
    "Finds perimalleolar fragments on an ankle radiograph and calls each one a lateral "
    "malleolus avulsion fracture (LMAF) or a subfibular ossicle (SFO)."
)
settings = resources.settings()
models_dir = str(settings.models_dir)
cards = resources.model_cards(models_dir)
detectors = models_for_task(cards, ModelTask.FRAGMENT_DETECTION)
classifiers = models_for_task(cards, ModelTask.LMAF_VS_SFO)

pick_input, pick_models = st.columns([3, 2], gap="large")
with pick_models:
    detector = st.selectbox("Fragment detector", detectors or ["lmaf-fragment-detector"])
    classifiers = classifiers or ["lmaf-classifier-mobilenetv2"]
    default = classifiers.index(DEFAULT_CLASSIFIER) if DEFAULT_CLASSIFIER in classifiers else 0
    classifier = st.selectbox("LMAF/SFO classifier", classifiers, index=default)
with pick_input:
    source = pacs_panel.choose_case_source(
        "radiograph", ["dcm", "dicom", "png", "jpg", "jpeg", "nii", "gz"], settings, key="rg"
    )

failed = False
if source is not None:
    models = f"{detector}+{classifier}"
    try:
        with st.spinner("Detecting and classifying fragments…"):
            analysis = resources.radiograph_analysis(
                source.sha256, detector, classifier, models_dir, settings.device, source.data
            )
        st.session_state["rg_last"] = (source.name, source.sha256, models, analysis)
        result = analysis.result
        leg = wanted_leg_result(
            analysis.radiograph, source.name, source.sha256, models_dir, settings.device
        )
        history.record_case(
            resources.case_store(settings.database_url),
            kind="radiograph",
            input_sha256=source.sha256,
            metadata=analysis.radiograph.metadata,
            results=with_localiser(result, leg),
            model_name=models,
            model_version=f"{result.detector.split()[-1]}+{result.classifier.split()[-1]}",
            source_format=analysis.radiograph.source_format,
        )
    except AnkleError as exc:
        failed = True
        st.session_state.pop("rg_last", None)  # never leave the previous case's result
        widgets.show_error(exc)

last = st.session_state.get("rg_last")
if last is None:
    if not failed:
        st.info("Upload a DICOM, PNG, JPEG or 2D NIfTI ankle radiograph, or pick a demo case.")
else:
    name, sha256, models, analysis = last
    real = not is_project_phantom(analysis.radiograph, name)
    leg = wanted_leg_result(analysis.radiograph, name, sha256, models_dir, settings.device)
    if real:  # a real radiograph: the model trained on real lower-limb images speaks first
        render_leg_finding(analysis.radiograph, sha256, models_dir, settings.device, first=True)
    render_radiograph_case(name, sha256, models, analysis, leg)
    if not real:
        render_leg_finding(analysis.radiograph, sha256, models_dir, settings.device, first=False)
    render_localiser_section(analysis.radiograph, sha256, models_dir, settings.device)
    if source is not None and not failed:  # a PACS input can send its results back
        pacs_panel.send_results_panel("radiograph", analysis, source, settings, "rg", leg)
