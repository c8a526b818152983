"""Streamlit helpers of the real (FracAtlas) collection: the library view and the click quiz.

The real cases come from ``demo_cases/fracatlas`` (:mod:`ankle_core.teaching.real_cases`),
read once per process through :func:`ui.resources.real_teaching_cases`. Model output on them
comes from the installed fracture-localisation models (one seam: :func:`real_models` and
:func:`model_output`, which call :mod:`ui.resources`). Every image here carries the FracAtlas
credit line.

The quiz takes the learner's click from a Plotly chart: a transparent grid of scatter points
lies over the image, and ``st.plotly_chart(..., on_select="rerun", selection_mode="points")``
returns the clicked point. The quiz's state is mirrored into the page URL (``?rq=<token>``),
so a reload resumes it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
import streamlit as st

from ankle_core.config import PROJECT_ROOT
from ankle_core.errors import AnkleError, InvalidInputError
from ankle_core.models.card import ModelTask, models_for_task
from ankle_core.teaching import (
    FRACATLAS_CREDIT,
    REAL_REGIONS,
    REAL_VIEWS,
    RealCase,
    RealQuizResults,
    RealQuizSession,
    filter_real_cases,
    new_real_quiz,
    quiz_from_token,
    real_quiz_results,
    real_results_csv,
)
from ankle_core.teaching.quiz_pdf import real_results_pdf
from ankle_core.teaching.real_draw import draw_real_case
from ankle_core.types import Radiograph
from ui import resources, widgets
from ui.viewer import image_trace

__all__ = [
    "REAL_ROOT",
    "ModelView",
    "create_demo_study",
    "credit",
    "is_real_case",
    "model_output",
    "real_case",
    "real_library",
    "real_models",
    "render_library",
    "render_quiz",
    "show_results",
    "show_study_case",
]

logger = logging.getLogger(__name__)

#: The bundled real cases' folder (tests point it elsewhere).
REAL_ROOT = PROJECT_ROOT / "demo_cases" / "fracatlas"
_PER_PAGE = 6
_QUIZ_KEY = "real_quiz"
_TOKEN = "rq"
_FRACTURE = {"all": "Fractured or not", "yes": "Fractured only", "no": "Not fractured only"}
_IMPLANTS = {"all": "With or without implants", "yes": "With implants only", "no": "Without"}


@dataclass(frozen=True)
class ModelView:
    """A real-image model's output on one case.

    Attributes:
        name: the model.
        image_score: its image-level fracture score.
        call: True when a box reaches its operating point.
        boxes: boxes ``(x0, y0, x1, y1)`` in pixels, by score.
        labels: one label per box.
        saliency: Grad-CAM of the top box, (H, W) in [0, 1], or None without a box.
    """

    name: str
    image_score: float
    call: bool
    boxes: tuple[tuple[float, float, float, float], ...]
    labels: tuple[str, ...]
    saliency: npt.NDArray[np.float32] | None


def credit() -> None:
    """The FracAtlas credit line (under every real image)."""
    st.caption(f":material/copyright: {FRACATLAS_CREDIT}")


def real_library() -> list[RealCase]:
    """The bundled real cases (read once per process)."""
    return list(resources.real_teaching_cases(str(REAL_ROOT)))


def _memo(key: str, make: Any) -> Any:
    store: dict[str, Any] = st.session_state.setdefault("teach_real_memo", {})
    if key not in store:
        store[key] = make()
    return store[key]


def _radiograph(case: RealCase) -> tuple[str, Radiograph]:
    """The case's sha256 and radiograph, read once per session."""
    from ankle_core.io import read_radiograph

    def make() -> tuple[str, Radiograph]:
        data = case.path.read_bytes()
        return hashlib.sha256(data).hexdigest(), read_radiograph(data)

    value: tuple[str, Radiograph] = _memo(f"rg:{case.case_id}", make)
    return value


def real_models() -> list[str]:
    """Installed 2D fracture-localisation models (the real-image models)."""
    settings = resources.settings()
    cards = resources.model_cards(str(settings.models_dir))
    return models_for_task(cards, ModelTask.FRACTURE_LOCALISATION, spatial_dims=2)


def model_output(case: RealCase, name: str, *, saliency: bool = True) -> ModelView | None:
    """A real-image model's boxes, score and top-box Grad-CAM on a case (None on error).

    Args:
        case: the real case.
        name: an installed fracture-localisation model.
        saliency: also compute the top box's Grad-CAM.

    Returns:
        The model's view, or None (with the error on the page).
    """
    settings = resources.settings()
    sha, radiograph = _radiograph(case)
    models_dir, device = str(settings.models_dir), settings.device
    try:
        result = resources.localiser_result(sha, name, models_dir, device, radiograph)
        heat = None
        if saliency and result.boxes:
            heat = resources.localiser_saliency(sha, name, models_dir, device, 0, radiograph)
    except AnkleError as exc:
        widgets.show_error(exc)
        return None
    boxes = tuple(b.box.as_xyxy() for b in result.boxes)
    labels = tuple(f"AI {b.score:.2f}" for b in result.boxes)
    return ModelView(name, float(result.image_score), bool(boxes), boxes, labels, heat)


def _image(
    case: RealCase,
    *,
    truth: bool,
    click: tuple[float, float] | None = None,
    model: ModelView | None = None,
    heat: bool = False,
) -> None:
    _, radiograph = _radiograph(case)
    rgb = draw_real_case(
        radiograph.pixels,
        case,
        truth=truth,
        click=click,
        model_boxes=() if model is None else model.boxes,
        model_labels=None if model is None else model.labels,
        saliency=None if model is None or not heat else model.saliency,
    )
    st.image(rgb, width="stretch")
    credit()


def _case_facts(case: RealCase) -> str:
    implants = "yes" if case.hardware else "no"
    return (
        f":material/radiology: **Real radiograph** · view: **{case.view_text}** · region: "
        f"{case.region.replace('_', ' ')} · implants: **{implants}** · {case.difficulty}"
    )


def render_library() -> None:
    """The real collection: filters in the sidebar, six cases a page, truth on demand."""
    cases = real_library()
    with st.sidebar:
        st.markdown("**Real-case filters**")
        views = st.multiselect("View", list(REAL_VIEWS), default=list(REAL_VIEWS), key="rl_views")
        fractured = st.selectbox(
            "Fracture", list(_FRACTURE), format_func=_FRACTURE.__getitem__, key="rl_fractured"
        )
        regions = st.multiselect(
            "Region",
            list(REAL_REGIONS),
            default=list(REAL_REGIONS),
            format_func=lambda r: r.replace("_", " "),
            key="rl_regions",
        )
        implants = st.selectbox(
            "Implants", list(_IMPLANTS), format_func=_IMPLANTS.__getitem__, key="rl_implants"
        )
    flag = {"all": None, "yes": True, "no": False}
    shown = filter_real_cases(
        cases,
        views=views,
        fractured=flag[fractured or "all"],
        regions=regions,
        implants=flag[implants or "all"],
    )
    st.markdown(f"**{len(shown)} of {len(cases)} real cases**")
    credit()
    if not shown:
        st.info("No case matches these filters.")
        return
    pages = (len(shown) + _PER_PAGE - 1) // _PER_PAGE
    page = 1
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key="rl_page"))
    models = real_models()
    for case in shown[(page - 1) * _PER_PAGE : page * _PER_PAGE]:
        with st.container(border=True):
            st.markdown(f"#### {case.title}")
            st.markdown(_case_facts(case))
            image_col, note_col = st.columns([3, 2], gap="large")
            with note_col:
                st.markdown(f"**Teaching note.** {case.note}")
                st.markdown("**Signs:** " + ", ".join(case.signs))
                show_truth = st.toggle(
                    "Show the truth (boxes and masks)", key=f"rl_truth_{case.case_id}"
                )
                show_model = bool(models) and st.toggle(
                    f"Show the AI's boxes and Grad-CAM ({models[0]})",
                    key=f"rl_model_{case.case_id}",
                )
            with image_col:
                model = None
                if show_model:
                    with st.spinner("Running the AI on this case…"):
                        model = model_output(case, models[0])
                _image(case, truth=show_truth, model=model, heat=model is not None)
    st.caption(
        "Teaching notes were written by the project's developers from each image and "
        "FracAtlas' boxes; they are not a radiologist's report."
    )


def _click_figure(case: RealCase, click: tuple[float, float] | None) -> go.Figure:
    """The image under a transparent grid of clickable points (and the click so far)."""
    _, radiograph = _radiograph(case)
    pixels = radiograph.pixels
    h, w = pixels.shape
    step = max(1, int(np.ceil(max(h, w) / 900)))
    grey = np.round(np.clip(pixels[::step, ::step], 0, 1) * 255).astype(np.uint8)
    fig = go.Figure(image_trace(np.repeat(grey[..., None], 3, axis=-1), step, step))
    grid = max(4.0, max(h, w) / 64.0)
    xs, ys = np.meshgrid(np.arange(grid / 2, w, grid), np.arange(grid / 2, h, grid))
    fig.add_trace(
        go.Scatter(
            x=xs.ravel(),
            y=ys.ravel(),
            mode="markers",
            marker=dict(size=9, color="rgba(0,0,0,0)"),
            hoverinfo="none",
            name="grid",
            showlegend=False,
        )
    )
    if click is not None:
        fig.add_trace(
            go.Scatter(
                x=[click[0]],
                y=[click[1]],
                mode="markers",
                marker=dict(size=18, symbol="x-thin-open", line=dict(width=3, color="#e628c8")),
                hoverinfo="skip",
                showlegend=False,
            )
        )
    fig.update_xaxes(range=[0, w], visible=False)
    fig.update_yaxes(range=[h, 0], visible=False, scaleanchor="x")
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), height=480, dragmode=False)
    return fig


def _click_input(case: RealCase, index: int) -> tuple[float, float] | None:
    """Draw the clickable image; the learner's latest click (kept in the session)."""
    key = f"rquiz_pt_{index}"
    event = st.plotly_chart(
        _click_figure(case, st.session_state.get(key)),
        key=f"rquiz_img_{index}",
        on_select="rerun",
        selection_mode="points",
        config={"displayModeBar": False},
    )
    points = event["selection"]["points"] if event else []
    if points:
        point = (float(points[-1]["x"]), float(points[-1]["y"]))
        if st.session_state.get(key) != point:
            st.session_state[key] = point
            st.rerun()
    click: tuple[float, float] | None = st.session_state.get(key)
    credit()
    return click


def _save(quiz: RealQuizSession) -> None:
    st.session_state[_QUIZ_KEY] = quiz
    st.query_params[_TOKEN] = quiz.to_token()


def _restore() -> RealQuizSession | None:
    quiz: RealQuizSession | None = st.session_state.get(_QUIZ_KEY)
    token = st.query_params.get(_TOKEN)
    if quiz is None and token:
        pool = {c.image_id: c for c in real_library()}
        try:
            quiz = quiz_from_token(token, pool)
        except InvalidInputError as exc:
            widgets.show_error(exc)
            del st.query_params[_TOKEN]
            return None
        st.session_state[_QUIZ_KEY] = quiz
        st.toast("Your quiz was resumed where you left it.")
    return quiz


def show_results(results: RealQuizResults) -> None:
    """The end-of-quiz table, notes and the cases to review."""
    import pandas as pd

    st.dataframe(
        pd.DataFrame(results.summary_rows(), columns=["Measure", "Your result"]),
        hide_index=True,
    )
    for note in results.notes:
        st.caption(note)
    for a in results.missed:
        why = "click outside the true box" if a.correct else "wrong call"
        st.markdown(f"- `{a.case_id}`: {why} ({a.confidence:.0f}% sure)")


def render_quiz() -> None:
    """The quiz on real images: start, click-and-commit, reveal, results and exports."""
    if st.sidebar.button("Start a new real quiz", key="rquiz_restart"):
        st.session_state.pop(_QUIZ_KEY, None)
        st.query_params.pop(_TOKEN, None)
    quiz = _restore()
    if quiz is None:
        n = st.number_input("Cases in the quiz", 2, 20, 5, key="rquiz_n")
        regions = st.multiselect(
            "Regions", list(REAL_REGIONS), default=list(REAL_REGIONS), key="rquiz_regions"
        )
        if st.button("Start the quiz", type="primary", key="rquiz_start"):
            pool = filter_real_cases(real_library(), regions=regions)
            if not pool:
                st.warning("No case in these regions.")
                return
            _save(new_real_quiz(pool, int(n), secrets.randbits(31)))
            st.rerun()
        credit()
        return
    models = real_models()
    if quiz.phase == "committed":  # the answer is locked: only now may the AI run
        case = quiz.cases[quiz.index]
        model = model_output(case, models[0], saliency=False) if models else None
        quiz.reveal(
            None if model is None else model.image_score, None if model is None else model.call
        )
        _save(quiz)
    st.metric("Running score", f"{quiz.n_correct} / {quiz.n_scored}")
    if quiz.finished:
        _render_results(quiz)
        return
    current = quiz.current
    assert current is not None  # not finished
    st.markdown(f"**Case {quiz.index + 1} of {len(quiz.cases)}**")
    image_col, answer_col = st.columns([3, 2], gap="large")
    if quiz.phase == "commit":
        _render_commit(quiz, current, image_col, answer_col)
    else:
        _render_reveal(quiz, current, models, image_col, answer_col)


def _render_commit(quiz: RealQuizSession, case: RealCase, image_col: Any, answer_col: Any) -> None:
    i = quiz.index
    with image_col:
        st.caption("Click on the image where you see the fracture (if you see one).")
        click = _click_input(case, i)
    with answer_col:
        st.markdown(f"View: **{case.view_text}** · implants: {'yes' if case.hardware else 'no'}")
        if click is not None:
            st.markdown(f"Your click: x = {click[0]:.0f}, y = {click[1]:.0f} px")
        call = st.radio("Your call", ["fracture", "no fracture"], index=None, key=f"rquiz_call_{i}")
        confidence = st.slider(
            "Your confidence in this call (%)", 0, 100, 50, key=f"rquiz_conf_{i}"
        )
        if st.button("Commit my answer", type="primary", key=f"rquiz_commit_{i}"):
            if call is None:
                st.warning("Choose a call first.")
                return
            try:
                quiz.commit(call == "fracture", confidence, click)
            except InvalidInputError as exc:
                st.warning(str(exc))
                return
            _save(quiz)
            st.rerun()


def _render_reveal(
    quiz: RealQuizSession, case: RealCase, models: list[str], image_col: Any, answer_col: Any
) -> None:
    i = quiz.index
    answer = quiz.answers[-1]
    with answer_col:
        verdict = (
            ":material/check_circle: Right" if answer.correct else ":material/cancel: Not quite"
        )
        truth = "a fracture" if case.fractured else "no fracture"
        st.markdown(f"### {verdict}: this image shows **{truth}**")
        you = "fracture" if answer.call else "no fracture"
        st.markdown(f"You said {you} ({answer.confidence:.0f}% sure).")
        if answer.hit is not None:
            st.markdown(
                "Your click is **inside** a true fracture box."
                if answer.hit
                else "Your click is **outside** every true fracture box."
            )
        if answer.model_score is not None:
            ai = "fracture" if answer.model_call else "no fracture"
            st.markdown(
                f"The AI ({models[0]}) said **{ai}**, image score {answer.model_score:.2f}."
            )
        st.markdown(f"**Teaching note.** {case.note}")
        st.markdown("**Signs:** " + ", ".join(case.signs))
        heat = bool(models) and st.toggle("Show the AI's Grad-CAM", key=f"rquiz_heat_{i}")
        label = "Next case" if quiz.index + 1 < len(quiz.cases) else "See my results"
        if st.button(label, type="primary", key=f"rquiz_next_{i}"):
            quiz.advance()
            _save(quiz)
            st.rerun()
    with image_col:
        model = model_output(case, models[0], saliency=heat) if models else None
        _image(case, truth=True, click=answer.click, model=model, heat=heat)
        st.caption("Green: truth (mask and box) · magenta: your click · orange: the AI's boxes")
        if heat and model is not None and not model.boxes:
            st.caption("The AI suggested no box here, so there is no box Grad-CAM to show.")


def _render_results(quiz: RealQuizSession) -> None:
    results = real_quiz_results(quiz.answers)
    st.subheader("Your results")
    show_results(results)
    left, right = st.columns(2)
    left.download_button(
        ":material/download: Results (CSV)",
        real_results_csv(quiz.answers, results),
        file_name="real-quiz-results.csv",
        mime="text/csv",
        key="rquiz_csv",
    )
    right.download_button(
        ":material/download: Results (PDF)",
        real_results_pdf(quiz.answers, results),
        file_name="real-quiz-results.pdf",
        mime="application/pdf",
        key="rquiz_pdf",
    )
    credit()


def is_real_case(case_id: str) -> bool:
    """Whether a study case comes from the real collection (``"fracatlas:..."``)."""
    return case_id.startswith("fracatlas:")


def real_case(case_id: str) -> RealCase | None:
    """The real case with this id, or None."""
    return next((c for c in real_library() if c.case_id == case_id), None)


def show_study_case(case_id: str, *, aided: bool) -> None:
    """A real study case: the image alone (unaided) or with the real model's boxes and Grad-CAM.

    Args:
        case_id: the study case's id (``"fracatlas:<image id>"``).
        aided: show the real model's output.
    """
    case = real_case(case_id)
    if case is None:
        st.error("This study case is not in the installed real collection.")
        return
    model = None
    if aided:
        models = real_models()
        if not models:
            st.info("No real-image model is installed: the aided arm shows the image only.")
        else:
            with st.spinner("Running the AI on this case…"):
                model = model_output(case, models[0])
            if model is not None:
                call = "fracture" if model.call else "no fracture"
                st.markdown(
                    f"AI ({model.name}): **{call}**, image score {model.image_score:.2f} · "
                    "orange boxes, Grad-CAM of the top box"
                )
    _image(case, truth=False, model=model, heat=model is not None)


def create_demo_study(store: Any) -> tuple[str, str]:
    """Create the demo reader study on real cases (6 fractured, 6 not, same sitting, 5-point).

    Args:
        store: the study store.

    Returns:
        ``(study code, study key)``; the key is shown once and stored only as a hash.
    """
    from ankle_core.teaching import create_study, real_study_cases

    key = secrets.token_urlsafe(9)
    study = create_study(
        store,
        name="Demo: fracture or not on real FracAtlas radiographs",
        cases=real_study_cases(real_library(), 6, 6, seed=0),
        design="same-sitting",
        scale="5-point",
        key=key,
    )
    return study.code, key
