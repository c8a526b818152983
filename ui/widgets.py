"""Small building blocks shared by the pages: notes, errors, tables, downloads."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from ankle_core.errors import AnkleError

if TYPE_CHECKING:
    from ankle_core.inference.radiograph import RadiographResult

__all__ = [
    "RESEARCH_NOTE",
    "WITHHELD_HEADLINE",
    "call_badge",
    "disclaimer",
    "fragments_frame",
    "metadata_frame",
    "reader_applied",
    "research_note",
    "show_anyway",
    "show_error",
    "withheld_notice",
]

logger = logging.getLogger(__name__)

RESEARCH_NOTE = "Research use; demo models trained on synthetic phantoms."
WITHHELD_HEADLINE = "No call — outside the model's training domain"
# Each call its own colour: "no fragment found" (violet) is not "indeterminate" (orange), and a
# withheld call (grey) is neither.
_CALL_COLOURS = {
    "LMAF": "red",
    "SFO": "blue",
    "fracture": "red",
    "no fracture": "green",
    "no perimalleolar fragment found": "violet",
    "out of domain — call withheld": "gray",
}


def disclaimer() -> None:
    """The standing disclaimer (sidebar)."""
    st.warning(
        "**Research software — not a medical device.** The bundled LMAF/SFO and CT demo "
        "models were trained on synthetic phantoms, the lower-limb fracture model on public "
        "FracAtlas radiographs; none is validated for clinical use. Never use these outputs "
        "for patient care.",
        icon=":material/warning:",
    )


def research_note() -> None:
    """The note every result carries."""
    st.caption(f":material/science: *{RESEARCH_NOTE}*")


def show_error(exc: Exception) -> None:
    """Show a library error's message; the page keeps working."""
    if isinstance(exc, AnkleError):
        st.error(str(exc), icon=":material/error:")
    else:  # unexpected: log the type only, never the content
        logger.exception("unexpected error of type %s", type(exc).__name__)
        st.error(
            "Something went wrong while analysing this file. Try another file.",
            icon=":material/error:",
        )


def call_badge(call: str) -> str:
    """Markdown for a coloured call (``:red[LMAF]``; indeterminate in orange, no fragment
    found in violet, a withheld call in grey)."""
    colour = _CALL_COLOURS.get(call, "orange")
    return f":{colour}[**{call}**]"


def withheld_notice(reason: str) -> None:
    """Say, in words, why a call was withheld (the input is out of the model's domain)."""
    st.error(
        f"**{WITHHELD_HEADLINE}.** {reason} The model's output on this input means nothing, "
        "so no call is made.",
        icon=":material/block:",
    )


def show_anyway(key: str) -> bool:
    """The control behind which an out-of-domain raw score is shown; True when switched on."""
    return st.toggle(
        "Show the raw score anyway (out of domain — not a finding)",
        value=False,
        key=key,
        help="The model was not made for this input. Its raw output is shown only for "
        "research, labelled as out of domain.",
    )


def reader_applied(metadata: Mapping[str, Any]) -> str:
    """What the reader did to the pixels, in a few words (inversion, window, rescale)."""
    parts = []
    if "photometric_interpretation" in metadata or "photometric" in metadata:
        photometric = metadata.get("photometric_interpretation", metadata.get("photometric"))
        parts.append(f"{photometric}")
    if "inverted" in metadata:
        parts.append("inverted (MONOCHROME1)" if metadata["inverted"] else "not inverted")
    window = metadata.get("voi", metadata.get("window"))
    if window:
        parts.append(f"window: {window}")
    if metadata.get("rescale_applied"):
        parts.append("rescale slope/intercept applied")
    return ", ".join(parts) or "nothing (pixels used as stored)"


def metadata_frame(metadata: Mapping[str, Any]) -> pd.DataFrame:
    """Two columns (field, value) of de-identified metadata, values as text."""
    rows = [
        (str(k), ", ".join(map(str, v)) if isinstance(v, list | tuple) else str(v))
        for k, v in metadata.items()
    ]
    return pd.DataFrame(rows, columns=["Field", "Value"])


def fragments_frame(result: RadiographResult, *, raw: bool = False) -> pd.DataFrame:
    """One row per detected fragment, numbered as on the image: call, p(LMAF), detection
    score, size (mm) and box (px).

    Args:
        result: the pipeline's result.
        raw: show the calls before the domain gate, labelled as out of domain.
    """
    rows = []
    for i, frag in enumerate(result.fragments, start=1):
        b = frag.box
        mm = frag.box_mm
        size_mm = f"{mm[2] - mm[0]:.1f} × {mm[3] - mm[1]:.1f}" if mm else "—"
        call = f"{frag.raw_call or frag.call} (out of domain)" if raw else frag.call
        rows.append(
            {
                "#": i,
                "Call": call,
                "p(LMAF)": round(frag.p_lmaf, 3),
                "Detection": round(frag.detection_score, 3),
                "Size (mm)": size_mm,
                "Box (px)": f"{b.x0:.0f}, {b.y0:.0f}, {b.x1:.0f}, {b.y1:.0f}",
            }
        )
    return pd.DataFrame(rows)
