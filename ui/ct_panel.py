"""Everything shown for one analysed CT volume: three views, the box table, 3D surface."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from ankle_core.explain.ct import PAPER_GRADCAM, CamSettings
from ankle_core.inference.ct import BOXED_CALLS
from ui import resources, volume_views, widgets
from ui.analysis import CtAnalysis

if TYPE_CHECKING:
    from ankle_core.inference.ct import CtResult
    from ankle_core.models.card import ModelCard

__all__ = ["choose_reference_method", "regions_frame", "render_ct_case"]

_SLIDER = {"Axial": "ct_z", "Coronal": "ct_y", "Sagittal": "ct_x"}


def regions_frame(analysis: CtAnalysis) -> pd.DataFrame:
    """One row per Otsu box: centre (voxels and mm), size, volume and activation."""
    rows = []
    for rank, r in enumerate(analysis.result.regions, start=1):
        rows.append(
            {
                "#": rank,
                "Centre z, y, x (voxel)": ", ".join(f"{v:.0f}" for v in r.center_voxel),
                "Centre x, y, z (RAS mm)": ", ".join(f"{v:.1f}" for v in r.center_mm),
                "Size z × y × x (mm)": " × ".join(f"{v:.1f}" for v in r.size_mm),
                "Volume (mm³)": round(r.volume_mm3, 0),
                "Peak": round(r.peak, 2),
                "Mean": round(r.mean, 2),
            }
        )
    return pd.DataFrame(rows)


def choose_reference_method(card: ModelCard | None) -> bool:
    """Offer the reference paper's Grad-CAM when the card recommends other heat-map settings.

    Returns:
        True to explain with the reference paper's Grad-CAM and Otsu; False for the card's settings
        (also when the card recommends none, or cannot be read: the pipeline reports that).
    """
    try:
        recommended = CamSettings.from_dict(card.explanation if card else None)
    except (TypeError, ValueError):
        return False
    if recommended == PAPER_GRADCAM:
        return False
    labels = {
        False: f"{recommended.label} (the model card's)",
        True: f"{PAPER_GRADCAM.label} (the reference paper's)",
    }
    # The values are booleans, not the labels, so the choice survives a change of model.
    choice = st.selectbox(
        "Heat map and boxes",
        [False, True],
        format_func=labels.__getitem__,
        key="ct_cam",
        help="The model card recommends its own settings (its localisation figures are on the "
        "Models page); the reference paper's Grad-CAM is the published method.",
    )
    return bool(choice)


def _sync_sliders(
    sha256: str, analysis: CtAnalysis, orient: volume_views.DisplayOrientation
) -> None:
    """Centre the views on a new volume, or on the box just selected in the table.

    The sliders hold DISPLAY indices (see :class:`ui.volume_views.DisplayOrientation`).
    """
    state = st.session_state
    regions = analysis.result.regions
    if state.get("ct_sha") != sha256:
        state["ct_sha"] = sha256
        state["ct_selected"] = None
        centre = [s // 2 for s in orient.display_shape]
        if regions:
            centre = [round(v) for v in orient.index(regions[0].center_voxel)]
        state["ct_z"], state["ct_y"], state["ct_x"] = centre
    table = state.get("ct_regions_table")
    rows = list(table["selection"]["rows"]) if table else []
    selected = rows[0] if rows else None
    if selected is not None and selected != state.get("ct_selected") and selected < len(regions):
        picked = orient.index(regions[selected].center_voxel)
        state["ct_z"], state["ct_y"], state["ct_x"] = (round(v) for v in picked)
    state["ct_selected"] = selected


def _headline(result: CtResult) -> bool:
    """The call (or why it is withheld); returns True when the heat map may be shown."""
    if result.withheld:
        st.subheader(f"Fracture call: {widgets.call_badge(result.call)}", anchor=False)
        widgets.withheld_notice(result.domain.reason)
        if widgets.show_anyway("ct_show_raw"):
            st.warning(
                f"Raw output, out of domain (not a finding): fracture probability "
                f"{result.probability:.2f} ({result.raw_call}).",
                icon=":material/visibility:",
            )
            return True
        return False
    st.subheader(
        f"Fracture probability **{result.probability:.2f}** — {widgets.call_badge(result.call)}",
        anchor=False,
    )
    return True


def render_ct_case(name: str, sha256: str, analysis: CtAnalysis) -> None:
    """Draw a CT case (never runs a model).

    Ranked boxes are findings only when the call is fracture or indeterminate; on a negative
    or withheld call the heat map is one click away, without boxes.
    """
    result, volume = analysis.result, analysis.volume
    for warning in result.warnings:
        st.warning(warning, icon=":material/warning:")
    may_show = _headline(result)
    widgets.research_note()
    _views(name, sha256, analysis, may_show)
    findings = bool(result.regions)
    if st.toggle("Show the 3D bone surface" + (" with the boxes" if findings else ""), key="ct_3d"):
        with st.spinner("Building the bone surface…"):
            verts, faces = resources.bone_surface(sha256, volume)
        shown = [r.box_voxels for r in result.regions]
        fig3d = volume_views.bone_surface_figure(verts, faces, shown, volume.spacing_mm)
        st.plotly_chart(fig3d, key="ct_fig_3d")
    with st.expander("De-identified metadata"):
        st.dataframe(widgets.metadata_frame(volume.metadata), hide_index=True)


@st.fragment
def _views(name: str, sha256: str, analysis: CtAnalysis, may_show: bool) -> None:
    """Window, opacity, three views and the box table, redrawn on their own (a fragment).

    Moving a slider or picking a box reruns only this function, never the page.
    """
    result, volume = analysis.result, analysis.volume
    orient = volume_views.DisplayOrientation.from_affine(volume.affine, volume.shape)
    _sync_sliders(sha256, analysis, orient)
    findings = bool(result.regions)
    controls = st.columns([2, 1, 1])
    window = volume_views.WINDOWS[controls[0].selectbox("Window", list(volume_views.WINDOWS))]
    if result.call in BOXED_CALLS:
        label, default = "Heat-map overlay", True
    elif result.withheld:
        label, default = "Where the model looked (out of domain, no call)", False
    else:
        label, default = "Where the model looked (no fracture called)", False
    overlay = controls[1].toggle(
        label, value=default, key="ct_overlay", disabled=result.heatmap is None or not may_show
    )
    overlay = overlay and may_show
    alpha = controls[2].slider("Opacity", 0.0, 1.0, 0.4, 0.05, key="ct_alpha") if overlay else 0.0
    boxes = [orient.box(r.box_voxels) for r in result.regions]
    display = orient.array(volume.array)
    spacing = orient.spacing(volume.spacing_mm)
    centre = (st.session_state["ct_z"], st.session_state["ct_y"], st.session_state["ct_x"])
    for column, (plane, (axis, _)) in zip(st.columns(3), volume_views.PLANES.items(), strict=True):
        with column:
            index = st.slider(plane, 0, display.shape[axis] - 1, key=_SLIDER[plane])
            # the map is read for the slice shown only (the result's map is lazy)
            heat = (
                orient.plane(result.heatmap, axis, index)
                if result.heatmap is not None and alpha > 0
                else None
            )
            rgb = volume_views.plane_rgb(display, heat, plane, index, window, alpha)
            fig = volume_views.plane_figure(rgb, plane, index, spacing, boxes, centre)
            st.plotly_chart(fig, key=f"ct_fig_{plane}", config={"displaylogo": False})
    st.caption(
        "Radiological convention whatever the file's storage order: the patient's right on "
        "the screen's left; anterior up on the axial view. Box coordinates are those of the "
        "file (voxels) and of the patient (RAS mm)."
    )
    if findings:
        method = (result.explanation or PAPER_GRADCAM).label
        st.markdown(f"**Boxes: {method}** — click a row to centre the three views on it.")
        st.dataframe(
            regions_frame(analysis),
            hide_index=True,
            on_select="rerun",
            selection_mode="single-row",
            key="ct_regions_table",
        )
    elif result.call in BOXED_CALLS:
        st.info("No heat-map region above the Otsu threshold.")
    else:
        st.info(
            "No ranked boxes: boxes are findings only when the call is fracture or indeterminate."
        )
    st.caption(
        f"{name} · {' × '.join(map(str, volume.shape))} voxels (z, y, x) · spacing "
        f"{', '.join(f'{s:.2f}' for s in volume.spacing_mm)} mm · model {result.model} · "
        f"{result.timings_s.get('total', 0.0):.2f} s"
    )
