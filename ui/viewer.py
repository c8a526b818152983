"""The radiograph viewer: window/level, zoom, fragment boxes and the Grad-CAM overlay.

By default a case is drawn as one picture (:func:`radiograph_picture`, sent as a PNG to an
``st.image``): window, overlay, zoom and the numbered boxes are composed on the server. The
interactive viewer (Plotly: drag to pan, scroll to zoom) is a switch away; it costs the
server a figure and the browser plotly.js on every new case, which was a third of the time
from upload to result in the dashboard benchmark (``docs/performance.md``).

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
    "radiograph_picture",
    "show_radiograph",
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
    interactive: bool = False


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
    interactive = right.toggle(
        "Pan and scroll-zoom",
        value=False,
        key=f"{key}_interactive",
        help="An interactive viewer: drag to pan, scroll to zoom, double-click to reset. "
        "It takes longer to draw than the picture.",
    )
    return ViewSettings(level, width, zoom, overlay, opacity, interactive)


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
    uri = "data:image/png;base64," + base64.b64encode(_png(rgb)).decode("ascii")
    return go.Image(source=uri, dx=dx, dy=dy, hoverinfo="skip")


def _png(rgb: npt.NDArray[np.uint8]) -> bytes:
    """An (H, W, 3) uint8 picture as PNG bytes, at the fastest compression (drawn per redraw)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()


def window(pixels: npt.NDArray[np.float32], level: float, width: float) -> npt.NDArray[np.float32]:
    """Linear window on [0, 1] pixels: ``level`` is the centre, ``width`` the span."""
    lo = level - width / 2.0
    out: npt.NDArray[np.float32] = np.clip((pixels - lo) / max(width, 1e-6), 0.0, 1.0).astype(
        np.float32
    )
    return out


def _display_rgb(
    pixels: npt.NDArray[np.float32],
    saliency: npt.NDArray[np.float32] | None,
    view: ViewSettings,
) -> tuple[npt.NDArray[np.uint8], int]:
    """The windowed radiograph with its overlay, downsampled for display, and the step."""
    from ankle_core.explain.overlay import overlay_heatmap

    step = max(1, int(np.ceil(max(pixels.shape) / _MAX_DISPLAY_PX)))
    grey = window(pixels[::step, ::step], view.level, view.width)
    if view.overlay and saliency is not None and view.opacity > 0:
        return overlay_heatmap(grey, saliency[::step, ::step], alpha=view.opacity), step
    # rounded as overlay_heatmap rounds, so a cold overlay leaves the picture as it is
    return np.round(np.repeat(grey[..., None], 3, axis=-1) * 255).astype(np.uint8), step


def _zoom_window(
    boxes: Sequence[tuple[float, float, float, float]], w: int, h: int, zoom: float
) -> tuple[float, float, float, float]:
    """``(x0, x1, y0, y1)`` shown at ``zoom``, in pixels: centred on box 1 (else the image)
    and kept inside the image."""
    half_w, half_h = w / (2 * zoom), h / (2 * zoom)
    cx, cy = _zoom_centre(boxes, w, h)
    cx, cy = float(np.clip(cx, half_w, w - half_w)), float(np.clip(cy, half_h, h - half_h))
    return cx - half_w, cx + half_w, cy - half_h, cy + half_h


def _rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def radiograph_picture(
    pixels: npt.NDArray[np.float32],
    saliency: npt.NDArray[np.float32] | None,
    boxes: Sequence[tuple[float, float, float, float]],
    labels: Sequence[str],
    calls: Sequence[str],
    view: ViewSettings,
) -> npt.NDArray[np.uint8]:
    """The view as one picture: windowed radiograph, overlay, zoom and labelled boxes.

    The same view, from the same arguments, as :func:`radiograph_figure` (the zoom window is
    centred on box 1), with the boxes and their labels drawn into the pixels.

    Returns:
        (h, w, 3) uint8: the zoomed part, downsampled to at most 900 px a side.
    """
    from ankle_core.explain.overlay import draw_boxes
    from ankle_core.types import Box2D

    rgb, step = _display_rgb(pixels, saliency, view)
    h, w = pixels.shape
    x0, x1, y0, y1 = _zoom_window(boxes, w, h, view.zoom)
    c0, c1 = int(np.floor(x0 / step)), int(np.ceil(x1 / step))
    r0, r1 = int(np.floor(y0 / step)), int(np.ceil(y1 / step))
    crop = rgb[r0:r1, c0:c1]
    shown = [
        Box2D(bx0 / step - c0, by0 / step - r0, bx1 / step - c0, by1 / step - r0)
        for bx0, by0, bx1, by1 in boxes
    ]
    colours = [_rgb(BOX_COLOURS.get(call, _DEFAULT_BOX)) for call in calls]
    # about 14 screen pixels for a label and 2 for a line in a ~450 px wide column
    scale = max(crop.shape[:2]) / 450.0
    return draw_boxes(
        crop,
        shown,
        list(labels),
        colours,
        width=max(1, round(2 * scale)),
        font_size=max(9, round(14 * scale)),
    )


def show_radiograph(
    pixels: npt.NDArray[np.float32],
    saliency: npt.NDArray[np.float32] | None,
    boxes: Sequence[tuple[float, float, float, float]],
    labels: Sequence[str],
    calls: Sequence[str],
    view: ViewSettings,
    *,
    key: str,
    height: int = 560,
) -> None:
    """Draw the view: a picture (default) or, when ``view.interactive``, the Plotly viewer.

    Args:
        pixels, saliency, boxes, labels, calls, view: as :func:`radiograph_figure`.
        key: the element's key (the picture's container is ``st-key-<key>`` in the page).
        height: the viewer's height in pixels (a portrait picture is drawn this high).
    """
    if view.interactive:
        fig = radiograph_figure(pixels, saliency, boxes, labels, calls, view)
        fig.update_layout(height=height)
        st.plotly_chart(fig, key=key, config={"displaylogo": False, "scrollZoom": True})
        return
    picture = radiograph_picture(pixels, saliency, boxes, labels, calls, view)
    ph, pw = picture.shape[:2]
    with st.container(key=key):
        # a portrait picture at the viewer's height; a landscape one fills the column
        width: int | str = round(height * pw / ph) if ph > pw else "stretch"
        st.image(_png(picture), output_format="PNG", width=width)  # type: ignore[arg-type]


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
    rgb, step = _display_rgb(pixels, saliency, view)
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
    x0, x1, y0, y1 = _zoom_window(boxes, w, h, view.zoom)
    fig.update_xaxes(range=[x0, x1], visible=False)
    fig.update_yaxes(range=[y1, y0], visible=False, scaleanchor="x")
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), height=560, dragmode="pan")
    return fig


def _zoom_centre(
    boxes: Sequence[tuple[float, float, float, float]], w: int, h: int
) -> tuple[float, float]:
    if not boxes:
        return w / 2.0, h / 2.0
    x0, y0, x1, y1 = boxes[0]
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0
