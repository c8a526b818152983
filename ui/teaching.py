"""Streamlit helpers of the teaching pages: case images, the model on request, the quiz.

The model's output comes from ``ui.resources.radiograph_analysis`` (cached per case sha256
and model names); images and generated phantoms are memoised in the session's own state.
The viewer is the radiograph page's (``ui.viewer``), so boxes, calls and the Grad-CAM look
the same everywhere.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import streamlit as st

from ankle_core.config import PROJECT_ROOT
from ankle_core.errors import AnkleError
from ankle_core.teaching import (
    CLASS_NAMES,
    SIGNS,
    ModelOpinion,
    QuizResults,
    TeachingCase,
    case_bytes,
    teaching_library,
)
from ui import resources, viewer, widgets
from ui.analysis import RadiographAnalysis

__all__ = [
    "LIBRARY_ROOT",
    "analyse",
    "case_data",
    "case_pixels",
    "library",
    "opinion_of",
    "show_analysis",
    "show_image",
    "show_results",
    "show_signs",
]

logger = logging.getLogger(__name__)

#: The bundled cases' folder (tests point it elsewhere).
LIBRARY_ROOT = PROJECT_ROOT / "demo_cases"
DETECTOR = "lmaf-fragment-detector"
CLASSIFIER = "lmaf-classifier-mobilenetv2"
T = TypeVar("T")


def _memo(key: str, make: Callable[[], T]) -> T:
    """Per-session memo (not shared between sessions; not a cache)."""
    store: dict[str, Any] = st.session_state.setdefault("teach_memo", {})
    if key not in store:
        store[key] = make()
    value: T = store[key]
    return value


def library(n_generated_per_class: int) -> list[TeachingCase]:
    """The bundled cases plus ``n`` generated phantoms per class."""
    return teaching_library(LIBRARY_ROOT, n_generated_per_class=n_generated_per_class)


def case_data(case: TeachingCase) -> bytes:
    """The case's file bytes (a generated phantom is drawn once per machine, kept on disk)."""
    if case.path is not None:
        return _memo(f"bytes:{case.case_id}", lambda: case_bytes(case))
    key = {"teaching_png": case.case_id, "label": case.label, "seed": case.seed}
    return _memo(
        f"bytes:{case.case_id}",
        lambda: resources.phantom_cache().png_bytes(key, lambda: case_bytes(case)),
    )


def case_pixels(case_id: str, data: bytes) -> npt.NDArray[np.float32]:
    """(H, W) float32 pixels in [0, 1] of a case, read once per session."""
    from ankle_core.io import read_radiograph

    return _memo(f"pixels:{case_id}", lambda: read_radiograph(data).pixels)


def analyse(data: bytes) -> RadiographAnalysis | None:
    """The demo models' analysis of a case (cached per sha256), or None with a note.

    Args:
        data: the radiograph file's bytes.

    Returns:
        The analysis; None (with a message on the page) when the models are missing.
    """
    settings = resources.settings()
    sha = hashlib.sha256(data).hexdigest()
    try:
        return resources.radiograph_analysis(
            sha, DETECTOR, CLASSIFIER, str(settings.models_dir), settings.device, data
        )
    except AnkleError as exc:
        widgets.show_error(exc)
        return None


def opinion_of(analysis: RadiographAnalysis | None) -> ModelOpinion | None:
    """The model's opinion as plain numbers (None without an analysis)."""
    if analysis is None:
        return None
    r = analysis.result
    top = max((f.detection_score for f in r.fragments), default=0.0)
    return ModelOpinion(r.case_call, r.case_p_lmaf, float(top))


def show_image(pixels: npt.NDArray[np.float32], key: str) -> None:
    """The radiograph alone, in the radiograph page's viewer, without any AI output."""
    view = viewer.ViewSettings(overlay=False)
    viewer.show_radiograph(pixels, None, [], [], [], view, key=key, height=460)


def show_analysis(analysis: RadiographAnalysis, key: str) -> None:
    """The AI's boxes, probabilities, calls and saliency, as the radiograph page shows them.

    Args:
        analysis: the cached analysis.
        key: widget key prefix (unique on the page).
    """
    result = analysis.result
    p = result.case_p_lmaf
    headline = f"AI case call: {widgets.call_badge(result.case_call)}"
    if p is not None:
        headline += f" — case p(LMAF) = **{p:.2f}**"
    st.markdown(headline)
    view = viewer.view_controls(key)
    boxes = [f.box.as_xyxy() for f in result.fragments]
    labels = [  # the radiograph page's short labels
        f"{i} · {f.call if f.call in ('LMAF', 'SFO') else 'review'} {f.p_lmaf:.2f}"
        for i, f in enumerate(result.fragments, 1)
    ]
    calls = [f.call for f in result.fragments]
    viewer.show_radiograph(
        analysis.radiograph.pixels,
        analysis.saliency,
        boxes,
        labels,
        calls,
        view,
        key=f"{key}_fig",
        height=460,
    )
    if result.fragments:
        st.dataframe(widgets.fragments_frame(result), hide_index=True)
    else:
        st.info("The AI found no perimalleolar fragment.")
    widgets.research_note()


def show_signs(label: str) -> None:
    """The signs of a class, as a bullet list."""
    st.markdown(f"**Signs of {CLASS_NAMES[label]}**")
    st.markdown("\n".join(f"- {s}" for s in SIGNS[label]))


def show_results(results: QuizResults) -> None:
    """The end-of-quiz summary table and the missed cases."""
    import pandas as pd

    st.dataframe(
        pd.DataFrame(results.summary_rows(), columns=["Measure", "Your result"]),
        hide_index=True,
    )
    for note in results.notes:
        st.caption(note)
    if results.missed:
        st.markdown("**Cases to review**")
        for a in results.missed:
            model = "—" if a.model is None else a.model.call
            st.markdown(
                f"- `{a.case_id}`: truth **{CLASS_NAMES[a.truth]}**, you said "
                f"{CLASS_NAMES[a.call]} ({a.confidence:.0f}%), AI: {model}"
            )
    else:
        st.success("No case missed.")
