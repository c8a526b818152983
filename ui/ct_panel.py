"""Everything shown for one analysed CT volume: three views, the box table, 3D surface."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from ankle_core.explain.ct import PAPER_GRADCAM, CamSettings
from ui import resources, volume_views, widgets
from ui.analysis import CtAnalysis

if TYPE_CHECKING:
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


def _sync_sliders(sha256: str, analysis: CtAnalysis) -> None:
    """Centre the views on a new volume, or on the box just selected in the table."""
    state = st.session_state
    if state.get("ct_sha") != sha256:
        state["ct_sha"] = sha256
        state["ct_selected"] = None
        centre = [s // 2 for s in analysis.volume.shape]
        if analysis.result.regions:
            centre = [round(v) for v in analysis.result.regions[0].center_voxel]
        state["ct_z"], state["ct_y"], state["ct_x"] = centre
    table = state.get("ct_regions_table")
    rows = list(table["selection"]["rows"]) if table else []
    selected = rows[0] if rows else None
    if selected is not None and selected != state.get("ct_selected"):
        region = analysis.result.regions[selected]
        state["ct_z"], state["ct_y"], state["ct_x"] = (round(v) for v in region.center_voxel)
    state["ct_selected"] = selected


def render_ct_case(name: str, sha256: str, analysis: CtAnalysis) -> None:
    """Draw a CT case (never runs a model)."""
    result, volume = analysis.result, analysis.volume
    st.subheader(
        f"Fracture probability **{result.probability:.2f}** — {widgets.call_badge(result.call)}",
        anchor=False,
    )
    for warning in result.warnings:
        st.warning(warning, icon=":material/warning:")
    widgets.research_note()
    _views(name, sha256, analysis)
    boxes = [r.box_voxels for r in result.regions]
    if st.toggle("Show the 3D bone surface with the boxes", key="ct_3d"):
        with st.spinner("Building the bone surface…"):
            verts, faces = resources.bone_surface(sha256, volume)
        fig3d = volume_views.bone_surface_figure(verts, faces, boxes, volume.spacing_mm)
        st.plotly_chart(fig3d, key="ct_fig_3d")
    with st.expander("De-identified metadata"):
        st.dataframe(widgets.metadata_frame(volume.metadata), hide_index=True)


@st.fragment
def _views(name: str, sha256: str, analysis: CtAnalysis) -> None:
    """Window, opacity, three views and the box table, redrawn on their own (a fragment).

    Moving a slider or picking a box reruns only this function, never the page.
    """
    result, volume = analysis.result, analysis.volume
    _sync_sliders(sha256, analysis)
    controls = st.columns([2, 1, 1])
    window = volume_views.WINDOWS[controls[0].selectbox("Window", list(volume_views.WINDOWS))]
    overlay = controls[1].toggle("Heat-map overlay", value=True, key="ct_overlay")
    alpha = controls[2].slider("Opacity", 0.0, 1.0, 0.4, 0.05, key="ct_alpha") if overlay else 0.0
    boxes = [r.box_voxels for r in result.regions]
    centre = (st.session_state["ct_z"], st.session_state["ct_y"], st.session_state["ct_x"])
    for column, (plane, (axis, _)) in zip(st.columns(3), volume_views.PLANES.items(), strict=True):
        with column:
            index = st.slider(plane, 0, volume.shape[axis] - 1, key=_SLIDER[plane])
            rgb = volume_views.plane_rgb(volume.array, result.heatmap, plane, index, window, alpha)
            fig = volume_views.plane_figure(rgb, plane, index, volume.spacing_mm, boxes, centre)
            st.plotly_chart(fig, key=f"ct_fig_{plane}", config={"displaylogo": False})
    method = (result.explanation or PAPER_GRADCAM).label
    st.markdown(f"**Boxes: {method}** — click a row to centre the three views on it.")
    if result.regions:
        st.dataframe(
            regions_frame(analysis),
            hide_index=True,
            on_select="rerun",
            selection_mode="single-row",
            key="ct_regions_table",
        )
    else:
        st.info("No heat-map region above the Otsu threshold.")
    st.caption(
        f"{name} · {' × '.join(map(str, volume.shape))} voxels (z, y, x) · spacing "
        f"{', '.join(f'{s:.2f}' for s in volume.spacing_mm)} mm · model {result.model} · "
        f"{result.timings_s.get('total', 0.0):.2f} s"
    )
