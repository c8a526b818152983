"""The general fracture localiser's section of the radiograph page: boxes and Grad-CAM.

The localiser (``fracture-detector-xr``) was trained and validated on real extremity
radiographs, not on ankles; the section says so and credits the data set. It runs only when
the model is installed and the user switches it on (an expander's body runs even while it is
collapsed, so the switch, not the expander, keeps it from running uninvited), once per case
(cached in :mod:`ui.resources`). The box picker redraws only the section (an
``st.fragment``).
"""

from __future__ import annotations

import logging

import numpy as np
import streamlit as st

from ankle_core.errors import AnkleError
from ankle_core.explain.overlay import draw_boxes, overlay_heatmap
from ankle_core.realdata.fracture_boxes import DATASET_CREDIT
from ankle_core.types import Radiograph
from ui import resources, widgets

__all__ = ["LOCALISER_TITLE", "render_localiser_section"]

logger = logging.getLogger(__name__)

LOCALISER_TITLE = "General fracture localiser (real radiographs, not ankle-validated)"
_BOX_COLOUR = (255, 160, 0)


def _grey_uint8(radiograph: Radiograph) -> np.ndarray:
    """(H, W) uint8 of the radiograph's [0, 1] pixels."""
    pixels = np.clip(np.asarray(radiograph.pixels, np.float32), 0.0, 1.0)
    return np.asarray(np.round(pixels * 255.0), dtype=np.uint8)


def render_localiser_section(
    radiograph: Radiograph, sha256: str, models_dir: str, device: str
) -> None:
    """Draw the localiser's expander: boxes with scores, a box picker and its Grad-CAM.

    Args:
        radiograph: the case's radiograph, (H, W) in [0, 1].
        sha256: the input's sha256 (the cache key of the results).
        models_dir: the installed models folder.
        device: torch device name.
    """
    from ankle_core.realdata.localise import LOCALISER_NAME  # torch: only once a case is shown

    with st.expander(LOCALISER_TITLE, icon=":material/travel_explore:"):
        cards = resources.model_cards(models_dir)
        card = cards.get(LOCALISER_NAME)
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
        _localiser_body(radiograph, sha256, models_dir, device)


@st.fragment
def _localiser_body(radiograph: Radiograph, sha256: str, models_dir: str, device: str) -> None:
    """The localiser's boxes and the Grad-CAM of the picked box (redrawn on its own)."""
    from ankle_core.realdata.localise import LOCALISER_NAME

    card = resources.model_cards(models_dir)[LOCALISER_NAME]
    try:
        with st.spinner("Running the general fracture localiser…"):
            result = resources.localiser_result(
                sha256, LOCALISER_NAME, models_dir, device, radiograph
            )
    except AnkleError as exc:
        widgets.show_error(exc)
        return
    st.warning(card.intended_use, icon=":material/warning:")
    boxes = [b.box for b in result.boxes]
    labels = [f"{i} · {b.score:.2f}" for i, b in enumerate(result.boxes, 1)]
    grey = _grey_uint8(radiograph)
    left, right = st.columns(2, gap="large")
    with left:
        st.image(draw_boxes(grey, boxes, labels, [_BOX_COLOUR] * len(boxes), width=3))
        st.caption(
            f"{len(boxes)} suggested box(es) at score ≥ {result.threshold:.3f} · "
            f"image score {result.image_score:.2f} · {result.model} · "
            f"{result.timings_s.get('total', 0.0):.2f} s"
        )
    with right:
        if not boxes:
            st.info("No box reaches the localiser's operating point on this image.")
        else:
            index = st.selectbox(
                "Explain box",
                list(range(len(boxes))),
                format_func=lambda i: labels[i],
                key="loc_box",
            )
            with st.spinner("Computing the detector Grad-CAM…"):
                heat = resources.localiser_saliency(
                    sha256, LOCALISER_NAME, models_dir, device, int(index), radiograph
                )
            rgb = overlay_heatmap(radiograph.pixels, heat, alpha=0.5)
            st.image(draw_boxes(rgb, [boxes[index]], [labels[index]], [_BOX_COLOUR], width=3))
            st.caption(f"Detector Grad-CAM for box {labels[index]}")
    st.caption(f"Training data: {DATASET_CREDIT}")
