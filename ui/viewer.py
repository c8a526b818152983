"""The radiograph viewer: window/level, zoom, fragment boxes and the Grad-CAM overlay.

Everything here only redraws an existing result; nothing runs a model.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
import streamlit as st

__all__ = [
    "BOX_COLOURS",
    "ViewSettings",
    "image_trace",
    "radiograph_figure",
    "view_controls",
    "window",
]

BOX_COLOURS = {"LMAF": "#e4572e", "SFO": "#2e86de"}
_DEFAULT_BOX = "#f6a609"  # indeterminate — review
_MAX_DISPLAY_PX = 900


@dataclass(frozen=True)
class ViewSettings:
    """Display choices: window (level, width) on [0, 1] pixels, zoom, overlay."""

    level: float = 0.5
    width: float = 1.0
    zoom: float = 1.0
    overlay: bool = True
    opacity: float = 0.4


def view_controls(key: str) -> ViewSettings:
    """Window/level, zoom and overlay widgets, in two columns."""
    left, right = st.columns(2)
    level = left.slider("Level", 0.0, 1.0, 0.5, 0.01, key=f"{key}_level")
    width = left.slider("Window", 0.05, 1.0, 1.0, 0.01, key=f"{key}_width")
    zoom = left.slider("Zoom", 1.0, 4.0, 1.0, 0.25, key=f"{key}_zoom")
    overlay = right.toggle("Grad-CAM overlay", value=True, key=f"{key}_overlay")
    opacity = right.slider(
        "Overlay opacity", 0.0, 1.0, 0.4, 0.05, key=f"{key}_opacity", disabled=not overlay
    )
    return ViewSettings(level, width, zoom, overlay, opacity)


def image_trace(rgb: npt.NDArray[np.uint8], dx: float = 1.0, dy: float = 1.0) -> go.Image:
    """A Plotly image trace of an (H, W, 3) uint8 picture, sent as one PNG.

    ``go.Image(z=...)`` sends every pixel as JSON numbers (about 3 MB for 512 x 512) and
    makes the browser paint them one by one; a PNG ``source`` is about a tenth of that and
    takes plotly.js's fast path (the browser draws the image itself), which cut the redraw
    of a radiograph or CT view in the dashboard's benchmark.

    Args:
        rgb: (H, W, 3) uint8.
        dx: width of one pixel in the figure's x units.
        dy: height of one pixel in the figure's y units.
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(
        buffer, format="PNG", compress_level=1
    )
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return go.Image(source=uri, dx=dx, dy=dy, hoverinfo="skip")


def window(pixels: npt.NDArray[np.float32], level: float, width: float) -> npt.NDArray[np.float32]:
    """Linear window on [0, 1] pixels: ``level`` is the centre, ``width`` the span."""
    lo = level - width / 2.0
    out: npt.NDArray[np.float32] = np.clip((pixels - lo) / max(width, 1e-6), 0.0, 1.0).astype(
        np.float32
    )
    return out


def radiograph_figure(
    pixels: npt.NDArray[np.float32],
    saliency: npt.NDArray[np.float32] | None,
    boxes: Sequence[tuple[float, float, float, float]],
    labels: Sequence[str],
    calls: Sequence[str],
    view: ViewSettings,
) -> go.Figure:
    """A Plotly figure of the windowed radiograph with overlay and labelled boxes.

    Args:
        pixels: (H, W) float32 in [0, 1].
        saliency: (H, W) float32 in [0, 1], or None.
        boxes: (x0, y0, x1, y1) in pixels of ``pixels``.
        labels: one label per box.
        calls: one call per box (colours the box).
        view: display settings.

    Returns:
        The figure, in the radiograph's pixel coordinates (downsampled for display).
    """
    from ankle_core.explain.overlay import overlay_heatmap

    step = max(1, int(np.ceil(max(pixels.shape) / _MAX_DISPLAY_PX)))
    grey = window(pixels[::step, ::step], view.level, view.width)
    if view.overlay and saliency is not None and view.opacity > 0:
        rgb = overlay_heatmap(grey, saliency[::step, ::step], alpha=view.opacity)
    else:
        rgb = (np.repeat(grey[..., None], 3, axis=-1) * 255).astype(np.uint8)
    fig = go.Figure(image_trace(rgb, step, step))
    for (x0, y0, x1, y1), label, call in zip(boxes, labels, calls, strict=True):
        colour = BOX_COLOURS.get(call, _DEFAULT_BOX)
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=colour, width=2))
        fig.add_annotation(
            x=x0,
            y=y0,
            text=label,
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            font=dict(color="white", size=12),
            bgcolor=colour,
            opacity=0.9,
        )
    h, w = pixels.shape
    half_w, half_h = w / (2 * view.zoom), h / (2 * view.zoom)
    cx, cy = _zoom_centre(boxes, w, h)
    cx, cy = float(np.clip(cx, half_w, w - half_w)), float(np.clip(cy, half_h, h - half_h))
    fig.update_xaxes(range=[cx - half_w, cx + half_w], visible=False)
    fig.update_yaxes(range=[cy + half_h, cy - half_h], visible=False, scaleanchor="x")
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), height=560, dragmode="pan")
    return fig


def _zoom_centre(
    boxes: Sequence[tuple[float, float, float, float]], w: int, h: int
) -> tuple[float, float]:
    if not boxes:
        return w / 2.0, h / 2.0
    x0, y0, x1, y1 = boxes[0]
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0
