"""CT views: axial, coronal and sagittal slices with the Grad-CAM overlay and 3D boxes,
and an optional 3D bone surface. Everything here only redraws an existing result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go

from ankle_core.types import Box3D

__all__ = ["PLANES", "WINDOWS", "bone_surface_figure", "plane_figure", "plane_rgb"]

#: plane name -> (sliced axis, (row axis, column axis)) of the (z, y, x) array.
PLANES: dict[str, tuple[int, tuple[int, int]]] = {
    "Axial": (0, (1, 2)),
    "Coronal": (1, (0, 2)),
    "Sagittal": (2, (0, 1)),
}
#: display windows, (level, width) in HU.
WINDOWS: dict[str, tuple[float, float]] = {
    "Bone (L 500 / W 2000)": (500.0, 2000.0),
    "Soft tissue (L 40 / W 400)": (40.0, 400.0),
    "Wide (L 0 / W 3000)": (0.0, 3000.0),
}
_BOX_COLOURS = ("#e4572e", "#f6a609", "#2e86de", "#8e44ad", "#17a589")


def plane_rgb(
    hu: npt.NDArray[np.float32],
    heat: npt.NDArray[np.float32] | None,
    plane: str,
    index: int,
    window: tuple[float, float],
    alpha: float,
) -> npt.NDArray[np.uint8]:
    """One slice, windowed, with the heat map blended in.

    Args:
        hu: (z, y, x) volume in HU.
        heat: (z, y, x) Grad-CAM in [0, 1] on the same grid, or None.
        plane: ``"Axial"``, ``"Coronal"`` or ``"Sagittal"``.
        index: slice index along the plane's axis.
        window: (level, width) in HU.
        alpha: overlay opacity; 0 hides the overlay.

    Returns:
        (rows, cols, 3) uint8.
    """
    from ankle_core.explain.overlay import overlay_heatmap

    axis, _ = PLANES[plane]
    level, width = window
    grey = np.clip((np.take(hu, index, axis=axis) - (level - width / 2)) / width, 0.0, 1.0)
    grey = grey.astype(np.float32)
    if heat is not None and alpha > 0:
        return overlay_heatmap(grey, np.take(heat, index, axis=axis), alpha=alpha)
    return (np.repeat(grey[..., None], 3, axis=-1) * 255).astype(np.uint8)


def plane_figure(
    rgb: npt.NDArray[np.uint8],
    plane: str,
    index: int,
    spacing_mm: tuple[float, float, float],
    boxes: Sequence[Box3D],
    crosshair: tuple[float, float, float] | None = None,
) -> go.Figure:
    """A slice figure in mm, with every box that the slice cuts drawn and numbered.

    Args:
        rgb: the slice from :func:`plane_rgb`.
        plane: its plane name.
        index: its index along the plane's axis.
        spacing_mm: (z, y, x) voxel spacing.
        boxes: 3D boxes in voxel indices (upper exclusive).
        crosshair: (z, y, x) voxel position to mark, or None.

    Returns:
        The figure; rows grow downwards on the axial view and upwards (superior up) on the
        coronal and sagittal views.
    """
    axis, (row_ax, col_ax) = PLANES[plane]
    dy, dx = spacing_mm[row_ax], spacing_mm[col_ax]
    fig = go.Figure(go.Image(z=rgb, dx=dx, dy=dy, hoverinfo="skip"))
    for rank, box in enumerate(boxes, start=1):
        lo, hi = box.as_tuple()[:3], box.as_tuple()[3:]
        if not lo[axis] <= index < hi[axis]:
            continue
        colour = _BOX_COLOURS[(rank - 1) % len(_BOX_COLOURS)]
        x0, x1 = (lo[col_ax] - 0.5) * dx, (hi[col_ax] - 0.5) * dx
        y0, y1 = (lo[row_ax] - 0.5) * dy, (hi[row_ax] - 0.5) * dy
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color=colour, width=2))
        fig.add_annotation(
            x=x0,
            y=y0,
            text=f"#{rank}",
            showarrow=False,
            xanchor="left",
            yanchor="top" if plane != "Axial" else "bottom",
            font=dict(color="white", size=11),
            bgcolor=colour,
        )
    if crosshair is not None:
        cx, cy = crosshair[col_ax] * dx, crosshair[row_ax] * dy
        for kw in (
            dict(x0=cx, x1=cx, y0=-0.5 * dy, y1=(rgb.shape[0] - 0.5) * dy),
            dict(y0=cy, y1=cy, x0=-0.5 * dx, x1=(rgb.shape[1] - 0.5) * dx),
        ):
            fig.add_shape(type="line", line=dict(color="#7fdbff", width=1, dash="dot"), **kw)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(
        visible=False, scaleanchor="x", autorange="reversed" if plane == "Axial" else True
    )
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), height=340, dragmode="pan")
    return fig


def bone_surface_figure(
    vertices_mm: npt.NDArray[np.float32],
    faces: npt.NDArray[np.int64],
    boxes: Sequence[Box3D],
    spacing_mm: tuple[float, float, float],
) -> go.Figure:
    """A 3D bone surface (Mesh3d) with the boxes as wireframes, axes in mm (x, y, z).

    Args:
        vertices_mm: (V, 3) vertices in (z, y, x) mm from marching cubes.
        faces: (F, 3) triangle vertex indices.
        boxes: 3D boxes in voxel indices.
        spacing_mm: (z, y, x) voxel spacing.

    Returns:
        The figure.
    """
    z, y, x = vertices_mm[:, 0], vertices_mm[:, 1], vertices_mm[:, 2]
    fig = go.Figure(
        go.Mesh3d(
            x=x,
            y=y,
            z=z,
            i=faces[:, 0],
            j=faces[:, 1],
            k=faces[:, 2],
            color="#e8dcc4",
            opacity=0.55,
            flatshading=True,
            name="bone",
        )
    )
    for rank, box in enumerate(boxes, start=1):
        lo = [(v - 0.5) * s for v, s in zip(box.as_tuple()[:3], spacing_mm, strict=True)]
        hi = [(v - 0.5) * s for v, s in zip(box.as_tuple()[3:], spacing_mm, strict=True)]
        xs, ys, zs = _box_edges(lo, hi)
        fig.add_trace(
            go.Scatter3d(
                x=xs,
                y=ys,
                z=zs,
                mode="lines",
                name=f"#{rank}",
                line=dict(color=_BOX_COLOURS[(rank - 1) % 5], width=6),
            )
        )
    fig.update_layout(
        scene=dict(
            aspectmode="data", xaxis_title="x (mm)", yaxis_title="y (mm)", zaxis_title="z (mm)"
        ),
        margin=dict(l=0, r=0, t=0, b=0),
        height=480,
    )
    return fig


def _box_edges(
    lo: Sequence[float], hi: Sequence[float]
) -> tuple[list[float | None], list[float | None], list[float | None]]:
    """Polyline through the 12 edges of a box; None breaks the line between edges."""
    (z0, y0, x0), (z1, y1, x1) = lo, hi
    corners = [(x, y, z) for z in (z0, z1) for y in (y0, y1) for x in (x0, x1)]
    edges = [
        (0, 1),
        (2, 3),
        (4, 5),
        (6, 7),
        (0, 2),
        (1, 3),
        (4, 6),
        (5, 7),
        (0, 4),
        (1, 5),
        (2, 6),
        (3, 7),
    ]
    xs: list[float | None] = []
    ys: list[float | None] = []
    zs: list[float | None] = []
    for a, b in edges:
        for idx in (a, b):
            xs.append(corners[idx][0])
            ys.append(corners[idx][1])
            zs.append(corners[idx][2])
        xs.append(None)
        ys.append(None)
        zs.append(None)
    return xs, ys, zs
