"""CT views: axial, coronal and sagittal slices with the Grad-CAM overlay and 3D boxes,
and an optional 3D bone surface. Everything here only redraws an existing result.

**Display orientation.** Every view is drawn in the radiological convention whatever the
file's storage order: the volume is shown through a :class:`DisplayOrientation`, a
permutation and flips of its (z, y, x) axes (read from the affine) onto display axes whose
index grows towards the patient's inferior, posterior and left. Then the axial view has
anterior up and the patient's right on screen left, the coronal view superior up and right
on the left, the sagittal view superior up and anterior on the left, and each view carries
its orientation letters (A/P/L/R/S/I). Boxes keep their coordinates (voxel indices of the
original file, patient mm); only their drawing goes through the same map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go

from ankle_core.types import Box3D
from ui.viewer import image_trace

__all__ = [
    "PLANES",
    "PLANE_LETTERS",
    "WINDOWS",
    "DisplayOrientation",
    "bone_surface_figure",
    "plane_figure",
    "plane_rgb",
]

#: plane name -> (sliced axis, (row axis, column axis)) of the DISPLAY array (axes growing
#: towards inferior, posterior, left; see :class:`DisplayOrientation`).
PLANES: dict[str, tuple[int, tuple[int, int]]] = {
    "Axial": (0, (1, 2)),
    "Coronal": (1, (0, 2)),
    "Sagittal": (2, (0, 1)),
}
#: plane name -> orientation letters at its (top, bottom, left, right) edges.
PLANE_LETTERS: dict[str, tuple[str, str, str, str]] = {
    "Axial": ("A", "P", "R", "L"),
    "Coronal": ("S", "I", "R", "L"),
    "Sagittal": ("S", "I", "A", "P"),
}


@dataclass(frozen=True)
class DisplayOrientation:
    """How a stored (z, y, x) volume maps onto the display axes (inferior, posterior, left).

    Attributes:
        perm: ``perm[d]`` is the stored axis shown as display axis ``d``.
        flip: ``flip[d]`` is True when that stored axis runs the other way.
        shape: the stored (z, y, x) shape.
    """

    perm: tuple[int, int, int]
    flip: tuple[bool, bool, bool]
    shape: tuple[int, int, int]

    @classmethod
    def from_affine(
        cls, affine: npt.NDArray[np.float64], shape: tuple[int, int, int]
    ) -> DisplayOrientation:
        """Read the orientation from a NIfTI-convention affine (index (x, y, z) -> RAS mm).

        Each display axis (S-I, A-P, R-L) takes the stored axis whose direction is closest
        to it (the largest component; oblique scans go to the nearest axis).
        """
        # direction in RAS of stored axis a (z, y, x order): affine column 2 - a
        dirs = np.stack([np.asarray(affine, np.float64)[:3, 2 - a] for a in range(3)])
        perm, flip, free = [], [], [0, 1, 2]
        for ras in (2, 1, 0):  # display axes: S-I (RAS z), A-P (RAS y), R-L (RAS x)
            a = max(free, key=lambda k: abs(dirs[k, ras]))
            free.remove(a)
            perm.append(a)
            # display index grows towards I / P / L, i.e. against +S / +A / +R
            flip.append(bool(dirs[a, ras] > 0))
        return cls((perm[0], perm[1], perm[2]), (flip[0], flip[1], flip[2]), shape)

    @property
    def display_shape(self) -> tuple[int, int, int]:
        """Shape of the display array."""
        return (
            self.shape[self.perm[0]],
            self.shape[self.perm[1]],
            self.shape[self.perm[2]],
        )

    def spacing(self, spacing_mm: Sequence[float]) -> tuple[float, float, float]:
        """The stored (z, y, x) spacing along the display axes."""
        return (
            float(spacing_mm[self.perm[0]]),
            float(spacing_mm[self.perm[1]]),
            float(spacing_mm[self.perm[2]]),
        )

    def array(self, volume: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The display view of a stored array (no copy)."""
        out = np.transpose(volume, self.perm)
        for d, flipped in enumerate(self.flip):
            if flipped:
                out = np.flip(out, axis=d)
        return out

    def plane(self, source: Any, axis: int, index: int) -> npt.NDArray[np.float32]:
        """One display slice of a stored volume, reading that slice alone.

        Equals ``np.take(self.array(source), index, axis)``, but ``source`` may be any
        stored (z, y, x) volume indexable by ints and slices, such as a CT result's lazy
        heat map (:class:`~ankle_core.explain.ct_heat.HeatVolume`), which then computes the
        one slice shown and never the whole map.

        Args:
            source: stored (z, y, x) array or array-like.
            axis: display axis of the plane (``PLANES[plane][0]``).
            index: slice index along that display axis.
        """
        stored = self.perm[axis]
        at = self.shape[stored] - 1 - index if self.flip[axis] else index
        key: list[int | slice] = [slice(None)] * 3
        key[stored] = int(at)
        out = np.asarray(source[tuple(key)])
        rest = [d for d in range(3) if d != axis]  # display axes left, in order
        if self.perm[rest[0]] > self.perm[rest[1]]:
            out = out.T
        for k, d in enumerate(rest):
            if self.flip[d]:
                out = np.flip(out, axis=k)
        return out

    def index(self, zyx: Sequence[float]) -> tuple[float, float, float]:
        """A stored (z, y, x) voxel index (continuous) as a display index."""
        out = []
        for d in range(3):
            a = self.perm[d]
            v = float(zyx[a])
            out.append(self.shape[a] - 1 - v if self.flip[d] else v)
        return out[0], out[1], out[2]

    def stored_index(self, display: Sequence[float]) -> tuple[float, float, float]:
        """Inverse of :meth:`index`."""
        out = [0.0, 0.0, 0.0]
        for d in range(3):
            a = self.perm[d]
            v = float(display[d])
            out[a] = self.shape[a] - 1 - v if self.flip[d] else v
        return out[0], out[1], out[2]

    def box(self, box: Box3D) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """A stored box (upper exclusive) as display ``(lower, upper)`` (upper exclusive)."""
        lo, hi = box.as_tuple()[:3], box.as_tuple()[3:]
        dlo, dhi = [], []
        for d in range(3):
            a = self.perm[d]
            if self.flip[d]:
                dlo.append(self.shape[a] - hi[a])
                dhi.append(self.shape[a] - lo[a])
            else:
                dlo.append(lo[a])
                dhi.append(hi[a])
        return tuple(dlo), tuple(dhi)


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
        hu: the DISPLAY volume in HU (:meth:`DisplayOrientation.array`).
        heat: Grad-CAM in [0, 1] on the same display grid, or the plane's slice of it
            already taken (2D, e.g. :meth:`DisplayOrientation.plane`), or None.
        plane: ``"Axial"``, ``"Coronal"`` or ``"Sagittal"``.
        index: slice index along the plane's display axis.
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
        piece = heat if heat.ndim == 2 else np.take(heat, index, axis=axis)
        return overlay_heatmap(grey, piece, alpha=alpha)
    return (np.repeat(grey[..., None], 3, axis=-1) * 255).astype(np.uint8)


def plane_figure(
    rgb: npt.NDArray[np.uint8],
    plane: str,
    index: int,
    spacing_mm: tuple[float, float, float],
    boxes: Sequence[tuple[Sequence[int], Sequence[int]]],
    crosshair: tuple[float, float, float] | None = None,
    numbers: Sequence[int] | None = None,
) -> go.Figure:
    """A slice figure in mm with its orientation letters and every box the slice cuts.

    Args:
        rgb: the slice from :func:`plane_rgb` (display grid).
        plane: its plane name.
        index: its index along the plane's display axis.
        spacing_mm: spacing along the display axes.
        boxes: display ``(lower, upper)`` boxes (:meth:`DisplayOrientation.box`).
        crosshair: display index to mark, or None.
        numbers: the number drawn on each box (default 1, 2, ...), as in the box table.

    Returns:
        The figure; row 0 of the slice is at the top (anterior on the axial view, superior on
        the others), column 0 on the left (the patient's right; anterior on the sagittal).
    """
    axis, (row_ax, col_ax) = PLANES[plane]
    dy, dx = spacing_mm[row_ax], spacing_mm[col_ax]
    fig = go.Figure(image_trace(rgb, dx, dy))
    numbers = list(numbers) if numbers is not None else list(range(1, len(boxes) + 1))
    for number, (lo, hi) in zip(numbers, boxes, strict=True):
        if not lo[axis] <= index < hi[axis]:
            continue
        colour = _BOX_COLOURS[(number - 1) % len(_BOX_COLOURS)]
        x0, x1 = (lo[col_ax] - 0.5) * dx, (hi[col_ax] - 0.5) * dx
        y0, y1 = (lo[row_ax] - 0.5) * dy, (hi[row_ax] - 0.5) * dy
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color=colour, width=2))
        fig.add_annotation(
            x=x0,
            y=y0,
            text=f"#{number}",
            showarrow=False,
            xanchor="right",
            yanchor="bottom",
            font=dict(color="white", size=11),
            bgcolor=colour,
        )
    height_mm, width_mm = rgb.shape[0] * dy, rgb.shape[1] * dx
    if crosshair is not None:
        cx, cy = crosshair[col_ax] * dx, crosshair[row_ax] * dy
        for kw in (
            dict(x0=cx, x1=cx, y0=-0.5 * dy, y1=height_mm - 0.5 * dy),
            dict(y0=cy, y1=cy, x0=-0.5 * dx, x1=width_mm - 0.5 * dx),
        ):
            fig.add_shape(type="line", line=dict(color="#7fdbff", width=1, dash="dot"), **kw)
    top, bottom, left, right = PLANE_LETTERS[plane]
    mid_x, mid_y = width_mm / 2 - 0.5 * dx, height_mm / 2 - 0.5 * dy
    for text, x, y, xa, ya in (
        (top, mid_x, -0.5 * dy, "center", "top"),
        (bottom, mid_x, height_mm - 0.5 * dy, "center", "bottom"),
        (left, -0.5 * dx, mid_y, "left", "middle"),
        (right, width_mm - 0.5 * dx, mid_y, "right", "middle"),
    ):
        fig.add_annotation(
            x=x,
            y=y,
            text=f"<b>{text}</b>",
            showarrow=False,
            xanchor=xa,
            yanchor=ya,
            font=dict(color="#ffd166", size=14),
            name=f"orientation-{text}",
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x", autorange="reversed")
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
