"""Fracture-localiser sections of the radiograph page: image-level call, boxes, Grad-CAM.

Two localisers trained on real radiographs can be installed:

- the lower-limb model (``fracatlas-leg-localiser``, FracAtlas): on a real radiograph its
  finding is the first thing the page shows (:func:`render_leg_finding`);
- the general extremity localiser (``fracture-detector-xr``), in an expander.

Each section shows the card's intended use and credits its training data. Results are cached
per case in :mod:`ui.resources`. Nothing runs uninvited on a phantom: there (and for the
general localiser everywhere) a switch starts the model, since an expander's body runs even
while it is collapsed. The model modules (torch) are imported only once a case is shown.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from ankle_core.errors import AnkleError
from ankle_core.explain.overlay import draw_boxes, overlay_heatmap
from ankle_core.phantoms.writers import PHANTOM_MANUFACTURER
from ankle_core.realdata.fracture_boxes import DATASET_CREDIT
from ankle_core.store.jsonable import to_jsonable
from ankle_core.types import Radiograph
from ui import resources, widgets
from ui.inputs import list_demo_cases

if TYPE_CHECKING:
    from ankle_core.inference.localiser import LocaliserResult

__all__ = [
    "LEG_TITLE",
    "LOCALISER_TITLE",
    "is_project_phantom",
    "leg_result",
    "render_leg_finding",
    "render_localiser_section",
    "wanted_leg_result",
    "with_localiser",
]

logger = logging.getLogger(__name__)

#: Installed names (kept here so that drawing the page imports no torch; the library's
#: ``ankle_core.inference.localiser.LEG_LOCALISER_NAME`` / ``LOCALISER_NAME`` say the same).
LEG_LOCALISER_NAME = "fracatlas-leg-localiser"
LOCALISER_NAME = "fracture-detector-xr"
LEG_TITLE = "Lower-limb fracture finding (model trained on real leg, ankle and foot radiographs)"
LOCALISER_TITLE = "General fracture localiser (real radiographs, not ankle-validated)"
_BOX_COLOUR = (255, 160, 0)


def _grey_uint8(radiograph: Radiograph) -> np.ndarray:
    """(H, W) uint8 of the radiograph's [0, 1] pixels."""
    pixels = np.clip(np.asarray(radiograph.pixels, np.float32), 0.0, 1.0)
    return np.asarray(np.round(pixels * 255.0), dtype=np.uint8)


def is_project_phantom(radiograph: Radiograph, name: str) -> bool:
    """True for a project phantom: a phantom DICOM file (by the manufacturer it carries) or
    one of the bundled phantom demo cases (by its name in the demo picker)."""
    if str(radiograph.metadata.get("manufacturer", "")) == PHANTOM_MANUFACTURER:
        return True
    return name in list_demo_cases("radiograph")


def leg_result(
    radiograph: Radiograph, sha256: str, models_dir: str, device: str
) -> LocaliserResult | None:
    """The lower-limb model's cached result, or None when it is not installed or fails."""
    if LEG_LOCALISER_NAME not in resources.model_cards(models_dir):
        return None
    try:
        return resources.localiser_result(
            sha256, LEG_LOCALISER_NAME, models_dir, device, radiograph
        )
    except AnkleError as exc:
        widgets.show_error(exc)
        return None


def with_localiser(results: Any, localiser: LocaliserResult | None) -> Any:
    """The case-history record: the pipeline's results plus the localiser's under
    ``"fracture_localiser"`` (unchanged when there is none)."""
    if localiser is None:
        return results
    return {**to_jsonable(results), "fracture_localiser": to_jsonable(localiser)}


def wanted_leg_result(
    radiograph: Radiograph, name: str, sha256: str, models_dir: str, device: str
) -> LocaliserResult | None:
    """The lower-limb result for the record, PDF and export: on a real radiograph always, on a
    phantom only once its switch is on (None otherwise)."""
    if is_project_phantom(radiograph, name) and not st.session_state.get("leg_run"):
        return None
    return leg_result(radiograph, sha256, models_dir, device)


def _boxes_and_cam(
    name: str,
    result: LocaliserResult,
    radiograph: Radiograph,
    sha256: str,
    models_dir: str,
    device: str,
    key: str,
) -> None:
    """Numbered boxes on the image, a box picker and the chosen box's Grad-CAM."""
    boxes = [b.box for b in result.boxes]
    labels = [f"{i} · {b.score:.2f}" for i, b in enumerate(result.boxes, 1)]
    left, right = st.columns(2, gap="large")
    with left:
        st.image(
            draw_boxes(_grey_uint8(radiograph), boxes, labels, [_BOX_COLOUR] * len(boxes), width=3)
        )
        st.caption(
            f"{len(boxes)} suggested box(es) at score ≥ {result.threshold:.3f} · "
            f"{result.model} · {result.timings_s.get('total', 0.0):.2f} s"
        )
    with right:
        if not boxes:
            st.info("No box reaches the model's box threshold on this image.")
            return
        # the Grad-CAM is an optional analysis: computed only for a box the user picks
        index = st.selectbox(
            "Explain box",
            list(range(len(boxes))),
            index=None,
            format_func=lambda i: labels[i],
            placeholder="Pick a box to see its Grad-CAM",
            key=key,
        )
        if index is None:
            st.caption("The Grad-CAM of a box is computed when you pick it.")
            return
        with st.spinner("Computing the Grad-CAM…"):
            heat = resources.localiser_saliency(
                sha256, name, models_dir, device, int(index), radiograph
            )
        rgb = overlay_heatmap(radiograph.pixels, heat, alpha=0.5)
        st.image(draw_boxes(rgb, [boxes[index]], [labels[index]], [_BOX_COLOUR], width=3))
        st.caption(f"Grad-CAM for box {labels[index]}")


def _score_words(card: Any, image_score: float) -> str:
    """What the lower-limb model's image score is, and the call at its other operating points."""
    expl = dict(card.explanation)
    words = f"Image score: {expl.get('image_score_meaning', expl.get('image_score', ''))}."
    ops = card.operating_points
    for label, thr in (
        ("high-sensitivity", ops.high_sensitivity),
        ("high-specificity", ops.high_specificity),
    ):
        if thr != ops.default:
            call = "fracture suspected" if image_score >= thr else "no fracture found"
            words += f" At the {label} operating point ({thr:.2f}): {call}."
    return words + " Operating points chosen on the FracAtlas validation images."


def render_leg_finding(
    radiograph: Radiograph, sha256: str, models_dir: str, device: str, *, first: bool
) -> None:
    """The lower-limb model's finding: call and score, numbered boxes, Grad-CAM, credit.

    Args:
        radiograph: the case's radiograph, (H, W) in [0, 1].
        sha256: the input's sha256 (the cache key of the results).
        models_dir: the installed models folder.
        device: torch device name.
        first: shown first, open (a real radiograph); else in a closed expander (phantom).
    """
    card = resources.model_cards(models_dir).get(LEG_LOCALISER_NAME)
    if card is None:
        if first:
            st.caption(f"The lower-limb fracture model ({LEG_LOCALISER_NAME}) is not installed.")
        return
    container = st.container(border=True) if first else st.expander(LEG_TITLE)
    with container:
        if first:
            st.markdown(f"**{LEG_TITLE}**")
        elif not st.toggle("Run the lower-limb fracture model on this image", key="leg_run"):
            st.caption(f"Training data: {card.training.get('credit', '')}")
            return
        with st.spinner("Running the lower-limb fracture model…"):
            result = leg_result(radiograph, sha256, models_dir, device)
        if result is None:
            return
        call = (
            ":red[**fracture suspected**]"
            if result.fracture_call
            else ":green[**no fracture found**]"
        )
        st.subheader(
            f"{call} — image score **{result.image_score:.2f}** "
            f"(operating point {result.image_threshold:.2f})",
            anchor=False,
        )
        st.caption(_score_words(card, result.image_score))
        st.warning(card.intended_use, icon=":material/warning:")
        _boxes_and_cam(
            LEG_LOCALISER_NAME, result, radiograph, sha256, models_dir, device, "leg_box"
        )
        st.caption(f"Training data: {result.credit}")


def render_localiser_section(
    radiograph: Radiograph, sha256: str, models_dir: str, device: str
) -> None:
    """The general extremity localiser's expander: boxes with scores and their Grad-CAM."""
    with st.expander(LOCALISER_TITLE, icon=":material/travel_explore:"):
        card = resources.model_cards(models_dir).get(LOCALISER_NAME)
        if card is None:
            st.caption(f"The general fracture localiser ({LOCALISER_NAME}) is not installed.")
            return
        if not st.toggle(
            "Run the general fracture localiser on this image",
            key="loc_run",
            help="A second model, trained on real extremity radiographs; it runs only when "
            "switched on.",
        ):
            st.caption(f"Training data: {DATASET_CREDIT}")
            return
        try:
            with st.spinner("Running the general fracture localiser…"):
                result = resources.localiser_result(
                    sha256, LOCALISER_NAME, models_dir, device, radiograph
                )
        except AnkleError as exc:
            widgets.show_error(exc)
            return
        st.warning(card.intended_use, icon=":material/warning:")
        st.caption(f"Image score {result.image_score:.2f} (top box score)")
        _boxes_and_cam(LOCALISER_NAME, result, radiograph, sha256, models_dir, device, "loc_box")
        st.caption(f"Training data: {result.credit}")
