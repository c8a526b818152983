"""Everything shown for one analysed radiograph: viewer, findings, metadata, report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from ui import resources, viewer, widgets
from ui.analysis import RadiographAnalysis

if TYPE_CHECKING:
    from ankle_core.inference.localiser import LocaliserResult

__all__ = ["render_radiograph_case"]


def render_radiograph_case(
    name: str,
    sha256: str,
    models: str,
    analysis: RadiographAnalysis,
    localiser: LocaliserResult | None = None,
) -> None:
    """Draw a radiograph case (never runs a model: every widget here only redraws).

    Args:
        name: the input's display name.
        sha256: the input's sha256.
        models: ``"detector+classifier"`` (the result's cache key).
        analysis: the cached analysis.
        localiser: the fracture localiser's result, reported first in the PDF.
    """
    result, radiograph = analysis.result, analysis.radiograph
    p = result.case_p_lmaf
    show_raw = True
    if result.withheld:
        st.subheader(f"Case call: {widgets.call_badge(result.case_call)}", anchor=False)
        widgets.withheld_notice(result.domain.reason)
        show_raw = widgets.show_anyway("rg_show_raw")
        if show_raw:
            raw = "no fragment" if p is None else f"case p(LMAF) = {p:.2f}"
            st.warning(
                f"Raw output, out of domain (not a finding): {result.raw_case_call}, {raw}.",
                icon=":material/visibility:",
            )
    else:
        headline = f"Case call: {widgets.call_badge(result.case_call)}"
        if p is not None:
            headline += f" — case p(LMAF) = **{p:.2f}**"
        st.subheader(headline, anchor=False)
    widgets.research_note()
    _case_view(name, sha256, models, analysis, show_raw, localiser)
    with st.expander("De-identified metadata and what the reader applied"):
        st.dataframe(widgets.metadata_frame(radiograph.metadata), hide_index=True)


@st.fragment
def _case_view(
    name: str,
    sha256: str,
    models: str,
    analysis: RadiographAnalysis,
    show_raw: bool,
    localiser: LocaliserResult | None = None,
) -> None:
    """Viewer, findings and the report button, redrawn on their own (an ``st.fragment``).

    Window, level, zoom and opacity rerun only this function: the page, its reader and its
    models do not run again.
    """
    result, radiograph = analysis.result, analysis.radiograph
    fragments = result.fragments if show_raw else ()
    left, right = st.columns([1, 1], gap="large")
    with right:
        view = viewer.view_controls("rg_view")
        st.markdown("**Detected fragments** — numbered as on the image")
        if fragments:
            # a static table: a handful of rows, drawn far faster in the browser than the
            # interactive grid of st.dataframe (docs/performance.md)
            frame = widgets.fragments_frame(result, raw=result.withheld)
            # "#" alone would be read as a Markdown heading in st.table's header
            st.table(frame.rename(columns={"#": "No."}), hide_index=True)
        elif result.withheld:
            st.info("Fragments hidden: the call is withheld (out of domain).")
        else:
            st.info("No perimalleolar fragment found.")
        st.caption(
            f"Detector {result.detector} · classifier {result.classifier} · "
            f"{result.timings_s.get('total', 0.0):.2f} s"
        )
        alpha = round(view.opacity if view.overlay else 0.0, 2)
        st.download_button(
            "Download the one-page PDF report",
            # a callable: the PDF is rendered when asked for, not on every redraw
            lambda: resources.radiograph_pdf(
                sha256, models, alpha, analysis, localiser.model if localiser else "", localiser
            ),
            file_name=f"ankle-report-{sha256[:8]}.pdf",
            mime="application/pdf",
            key="rg_pdf",
            icon=":material/picture_as_pdf:",
        )
    with left:
        boxes = [f.box.as_xyxy() for f in fragments]
        # numbers only on the image (the table names each box), so labels never pile up
        labels = [str(i) for i in range(1, len(fragments) + 1)]
        calls = [f.call for f in fragments]
        viewer.show_radiograph(
            radiograph.pixels, analysis.saliency, boxes, labels, calls, view, key="rg_figure"
        )
        st.caption(
            f"{name} · {radiograph.shape[1]}×{radiograph.shape[0]} px · "
            f"reader applied: {widgets.reader_applied(radiograph.metadata)}"
        )
