"""A CT heat map on the original grid, evaluated only where it is read, and its boxes.

A CT explanation lives on the model grid (a CAM of a few cells per axis); the scan it is
shown on can hold 100 million voxels. :class:`HeatVolume` keeps the CAM and the kept
:class:`~ankle_core.preprocess.transform.GridTransform` and evaluates the map, with its
body mask and its scale to [0, 1], for the voxels asked for: a displayed slice, a box, or
(``numpy.asarray``) the whole grid for the callers that need all of it. The spline is scipy's
(order 3 by default, ``mode="nearest"``), evaluated separably when the model grid follows the
volume's axes (three small weight matrices), with ``scipy.ndimage.map_coordinates`` when it
is oblique.

:func:`heat_regions` draws the boxes without the full-grid map:

1. the map, the body mask and the threshold on a sub-grid of the original grid with a step
   of about 1 mm per axis (original voxels ``0, s, 2s, ...`` inside the model's field of
   view); connected regions there (face connectivity);
2. each region refined on the full grid inside its box grown by one step: the map is
   evaluated on that box only, thresholded at the same value, labelled there, and the parts
   that hold the coarse region's samples are kept (a part that reaches the box's edge grows
   the box and is labelled again). Sizes, peaks, means and the ranking come from the refined
   voxels, so the boxes' corners are those of the full-grid method (within a voxel where
   the sub-grid's threshold differs a little from the full grid's).

The scale to [0, 1] is that of the full-grid method: clipped at 0, masked, divided by the
maximum (taken over the sub-grid and the refined regions, where the maximum lies).

Body mask: :func:`~ankle_core.preprocess.spatial.body_mask_window` per box read (one coarse
map of the outside, :func:`~ankle_core.preprocess.spatial.coarse_outside`, serves them
all); on the sub-grid, the same rule on the sub-grid's own voxels.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from ankle_core.explain.boxes import BoxSettings, HeatRegion
from ankle_core.preprocess.spatial import body_mask_window, coarse_outside
from ankle_core.preprocess.transform import GridTransform

__all__ = ["HeatVolume", "heat_regions"]

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Index = tuple[I64, I64, I64]

#: Most voxels evaluated in one piece when a large part of the map is read.
_CHUNK_VOXELS = 4_000_000
#: A sub-grid region is refined unless its estimated score, times this, is below the score
#: of the last box kept (the sub-grid's peak and mean are within a few per cent of the full
#: grid's on a smooth spline map; 1.25 leaves a wide margin).
_ESTIMATE_MARGIN = 1.25
#: Edge of the coarse outside blocks (as :func:`body_mask_window`'s default).
_COARSE_FACTOR = 4


def cam_index_map(cam_shape: Sequence[int], transform: GridTransform) -> tuple[F64, F64]:
    """Affine from original (z, y, x) index to fractional CAM index: ``c = K @ o + k``.

    CAM cells are centred on their receptive blocks of the model grid (as
    ``scipy.ndimage.zoom(grid_mode=True)``).
    """
    grid = np.asarray(transform.grid_shape, dtype=np.float64)
    cells = np.asarray(cam_shape, dtype=np.float64)
    scale = np.diag(cells / grid)
    inv = np.linalg.inv(transform.matrix)
    linear = scale @ inv[:3, :3]
    offset = scale @ inv[:3, 3] + 0.5 * cells / grid - 0.5
    return linear, offset


def spline_weights(n_in: int, coords: F64, order: int) -> F32:
    """(len(coords), n_in) matrix reproducing 1D spline interpolation at ``coords``.

    Spline interpolation (prefilter included) is linear in its input, so column ``i`` is the
    interpolation of the ``i``-th unit vector; an N-D spline is the tensor product of these.
    """
    weights = np.empty((coords.size, n_in), dtype=np.float32)
    for i in range(n_in):
        unit = np.zeros(n_in, dtype=np.float64)
        unit[i] = 1.0
        weights[:, i] = ndimage.map_coordinates(
            unit, coords[None], order=order, mode="nearest", prefilter=order > 1
        )
    return weights


def _as_index(key: Any, n: int) -> tuple[I64, bool]:
    """One axis of a ``__getitem__`` key as sorted-as-given indices, and whether it drops."""
    if isinstance(key, slice):
        return np.arange(*key.indices(n), dtype=np.int64), False
    if isinstance(key, int | np.integer):
        i = int(key)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of bounds for an axis of size {n}")
        return np.array([i % n], dtype=np.int64), True
    raise TypeError(f"A heat volume takes ints and slices, got {type(key).__name__}.")


class HeatVolume:
    """(z, y, x) float32 heat map in [0, 1] on a CT's original grid, computed on demand.

    Reads like a read-only array: ``.shape``, ``.dtype``, ``.ndim``, ``heat[k]``,
    ``heat[:, j]``, ``heat[z0:z1, y0:y1, x0:x1]`` (ints and slices, steps allowed) and
    ``numpy.asarray(heat)`` (the whole map, made in slabs; for the callers that need it).
    Values are ``clip((m * body - lo) / (hi - lo), 0, 1)`` with ``m`` the spline of the CAM
    clipped at 0, ``body`` the body mask and ``(lo, hi)`` the scale; 0 outside the model's
    field of view. Thread-safe: it holds no state that a read changes, except the coarse
    outside map, made once under a lock.

    Args:
        cam: (d, h, w) map covering the model grid (cells centred on their blocks).
        transform: the preprocessing's kept transform.
        order: spline order, 0 to 5.
        hu: the original (z, y, x) volume in HU, for the body mask (None: no mask).
        body_threshold_hu: HU above which a voxel is body (None: no mask).
        dilate_voxels: the body mask's margin, voxels.
        scale: ``(lo, hi)`` in the spline's units (default ``(0, 1)``; see
            :func:`heat_regions`).
    """

    ndim = 3

    def __init__(
        self,
        cam: npt.ArrayLike,
        transform: GridTransform,
        *,
        order: int = 3,
        hu: npt.NDArray[np.floating] | None = None,
        body_threshold_hu: float | None = None,
        dilate_voxels: int = 2,
        scale: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        if not 0 <= order <= 5:
            raise ValueError(f"The spline order must be 0 to 5, got {order}.")
        arr = np.ascontiguousarray(np.asarray(cam, dtype=np.float32))
        if arr.ndim != 3:
            raise ValueError(f"A CT CAM is (d, h, w), got shape {arr.shape}.")
        self.transform = transform
        self.order = int(order)
        self.footprint = transform.original_footprint()
        self.shape: tuple[int, int, int] = transform.original_shape
        self.dtype = np.dtype(np.float32)
        self.scale = (float(scale[0]), float(scale[1]))
        linear, offset = cam_index_map(arr.shape, transform)
        axes = transform.axis_map()
        self._separable = axes is not None
        if axes is not None:
            # transpose the CAM to the original's axis order: the index map is then diagonal
            columns = axes[0]
            self._cam = np.ascontiguousarray(arr.transpose(columns))
            self._diag = np.array([linear[columns[r], r] for r in range(3)])
            self._shift = np.array([offset[columns[r]] for r in range(3)])
        else:
            self._cam = arr
        self._linear, self._offset = linear, offset
        self._hu = hu if body_threshold_hu is not None else None
        self.body_threshold_hu = body_threshold_hu
        self.dilate_voxels = int(dilate_voxels)
        self._outside: np.ndarray | None = None
        self._weights: list[F32] | None = None
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Number of voxels of the original grid."""
        return int(np.prod(self.shape))

    def rescaled(self, lo: float, hi: float) -> HeatVolume:
        """The same map with the scale ``(lo, hi)`` (shares the CAM and the outside map)."""
        out = copy.copy(self)
        out.scale = (float(lo), float(hi))
        return out

    # -- evaluation -------------------------------------------------------------------------

    def outside_blocks(self) -> np.ndarray | None:
        """The coarse map of the air outside the body (made at the first read that needs it)."""
        if self._hu is None or self.body_threshold_hu is None:
            return None
        with self._lock:
            if self._outside is None:
                self._outside = coarse_outside(self._hu, self.body_threshold_hu, _COARSE_FACTOR)
            return self._outside

    def spline(self, index: Index) -> F32:
        """The CAM's spline, clipped at 0, at the grid ``np.ix_(*index)`` (original indices).

        Points outside the model's field of view are 0. Each index array must be sorted.
        """
        return self._evaluate(index, masked=False)

    def raw(self, index: Index) -> F32:
        """Spline times body mask at ``np.ix_(*index)``, before the scale (sorted indices)."""
        return self._evaluate(index, masked=True)

    def _evaluate(self, index: Index, *, masked: bool) -> F32:
        out = np.zeros([len(i) for i in index], dtype=np.float32)
        keep = [(i >= s.start) & (i < s.stop) for i, s in zip(index, self.footprint, strict=True)]
        inner = (index[0][keep[0]], index[1][keep[1]], index[2][keep[2]])
        if any(len(i) == 0 for i in inner):
            return out
        values = self._spline_inside(*inner)
        np.clip(values, 0.0, None, out=values)
        if masked:
            mask = self.body(inner)
            if mask is not None:
                values *= mask
        out[np.ix_(*[np.flatnonzero(k) for k in keep])] = values
        return out

    def _axis_weights(self) -> list[F32]:
        """Per original axis, the spline's weight rows for every voxel of the footprint."""
        with self._lock:
            if self._weights is None:
                self._weights = [
                    spline_weights(
                        self._cam.shape[r],
                        self._diag[r] * np.arange(s.start, s.stop, dtype=np.float64)
                        + self._shift[r],
                        self.order,
                    )
                    for r, s in enumerate(self.footprint)
                ]
            return self._weights

    def _spline_inside(self, i0: I64, i1: I64, i2: I64) -> F32:
        if self._separable:
            rows_of = self._axis_weights()
            mats = [rows_of[r][idx - self.footprint[r].start] for r, idx in enumerate((i0, i1, i2))]
            partial = np.tensordot(self._cam, mats[2], axes=([2], [1]))  # (i, j, c)
            partial = np.einsum("ijc,bj->ibc", partial, mats[1])  # (i, b, c)
            flat = np.ascontiguousarray(partial.reshape(self._cam.shape[0], -1))
            out = np.empty((len(i0), len(i1) * len(i2)), dtype=np.float32)
            rows = max(1, _CHUNK_VOXELS // max(1, flat.shape[1]))
            for a in range(0, len(i0), rows):
                out[a : a + rows] = mats[0][a : a + rows] @ flat
            return out.reshape(len(i0), len(i1), len(i2))
        res = np.empty((len(i0), len(i1), len(i2)), dtype=np.float32)
        rows = max(1, _CHUNK_VOXELS // max(1, len(i1) * len(i2)))
        for a in range(0, len(i0), rows):
            grid = np.stack(np.meshgrid(i0[a : a + rows], i1, i2, indexing="ij")).astype(np.float64)
            coords = np.tensordot(self._linear, grid, axes=([1], [0]))
            coords += self._offset[:, None, None, None]
            res[a : a + rows] = ndimage.map_coordinates(
                self._cam, coords, order=self.order, mode="nearest", prefilter=self.order > 1
            )
        return res

    def body(self, index: Index) -> npt.NDArray[np.bool_] | None:
        """The body mask at the grid ``np.ix_(*index)`` (None when the map is not masked).

        Computed on the index's bounding box
        (:func:`~ankle_core.preprocess.spatial.body_mask_window`).
        """
        if self._hu is None or self.body_threshold_hu is None:
            return None
        if any(len(i) == 0 for i in index):
            return np.zeros([len(i) for i in index], dtype=bool)
        box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in index)
        if (np.asarray(self._hu[box]) > self.body_threshold_hu).all():
            # no air in the box: all body, and the whole-volume outside map is not needed
            return np.ones([len(i) for i in index], dtype=bool)
        mask = body_mask_window(
            self._hu, box, threshold_hu=self.body_threshold_hu,  # type: ignore[arg-type]
            dilate_voxels=self.dilate_voxels, outside_blocks=self.outside_blocks(),
        )  # fmt: skip
        picked: npt.NDArray[np.bool_] = mask[np.ix_(*[i - int(i.min()) for i in index])]
        return picked

    def normalise(self, raw: F32) -> F32:
        """Apply the scale: ``clip((raw - lo) / (hi - lo), 0, 1)`` (0 for a flat map)."""
        lo, hi = self.scale
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi - lo < 1e-12:
            return np.zeros_like(raw)
        raw -= np.float32(lo)
        raw /= np.float32(hi - lo)
        np.clip(raw, 0.0, 1.0, out=raw)
        return raw

    def at(self, index: Index) -> F32:
        """The map in [0, 1] at the grid ``np.ix_(*index)`` (each index sorted)."""
        return self.normalise(self.raw(index))

    def __getitem__(self, key: Any) -> F32:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (3 - len(key) + 1)
            key = key[:at] + fill + key[at + 1 :]
        key = key + (slice(None),) * (3 - len(key))
        if len(key) != 3:
            raise IndexError(f"A heat volume has 3 axes, got an index of {len(key)}.")
        parsed = [_as_index(k, n) for k, n in zip(key, self.shape, strict=True)]
        index = [p[0] for p in parsed]
        order = [np.argsort(i, kind="stable") for i in index]
        ordered = (index[0][order[0]], index[1][order[1]], index[2][order[2]])
        values = self.at(ordered)
        back = [np.argsort(o, kind="stable") for o in order]
        if any(not np.array_equal(b, np.arange(b.size)) for b in back):
            values = values[np.ix_(*back)]  # a negative step asked for the reverse order
        drop = tuple(axis for axis, p in enumerate(parsed) if p[1])
        return np.ascontiguousarray(values.squeeze(axis=drop) if drop else values)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.float32)
        per = max(1, _CHUNK_VOXELS // max(1, self.shape[1] * self.shape[2]))
        fp = self.footprint
        for z0 in range(fp[0].start, fp[0].stop, per):
            z1 = min(fp[0].stop, z0 + per)
            out[z0:z1, fp[1], fp[2]] = self[z0:z1, fp[1], fp[2]]
        return out if dtype is None else out.astype(dtype)


def _strides(affine: F64, step_mm: float) -> tuple[int, int, int]:
    """Per (z, y, x) axis, the voxel step closest to ``step_mm`` (at least 1)."""
    sizes = np.linalg.norm(np.asarray(affine, dtype=np.float64)[:3, :3], axis=0)[::-1]
    out = [max(1, round(step_mm / max(float(s), 1e-6))) for s in sizes]
    return out[0], out[1], out[2]


def _coarse_body(heat: HeatVolume, index: Index, strides: Sequence[int]) -> np.ndarray | None:
    """The body mask's rule on the sub-grid's own voxels (threshold, holes, margin)."""
    hu = heat._hu
    thr = heat.body_threshold_hu
    if hu is None or thr is None:
        return None
    view = tuple(
        slice(int(i[0]), int(i[-1]) + 1, int(s)) for i, s in zip(index, strides, strict=True)
    )
    body = np.asarray(hu[view]) > thr
    if body.all():  # no air on the sub-grid: all body (the outside map is not needed)
        return body
    blocks = heat.outside_blocks()
    assert blocks is not None
    certain = blocks[np.ix_(*[i // _COARSE_FACTOR for i in index])] & ~body
    labels, _ = ndimage.label(~body)
    outside_labels = np.unique(labels[certain])
    mask: np.ndarray = ~np.isin(labels, outside_labels[outside_labels > 0])
    # the margin reaches the next sample only along axes whose step is within it
    near = [a for a in range(3) if strides[a] <= heat.dilate_voxels]
    if heat.dilate_voxels > 0 and near and mask.any():
        structure = np.zeros((3, 3, 3), dtype=bool)
        structure[1, 1, 1] = True
        for a in near:
            at = [1, 1, 1]
            for v in (0, 2):
                at[a] = v
                structure[tuple(at)] = True
        steps = max(1, heat.dilate_voxels // max(strides[a] for a in near))
        mask = ndimage.binary_dilation(mask, structure=structure, iterations=steps)
    return mask


def _refine(
    heat: HeatVolume,
    seeds: Index,
    box: list[list[int]],
    threshold: float,
    strides: Sequence[int],
    structure: np.ndarray,
    claimed: tuple[Index, npt.NDArray[np.bool_]],
) -> list[tuple[tuple[int, ...], tuple[int, ...], int, float, float, tuple[int, ...]]]:
    """The full-grid components holding ``seeds`` (original (z, y, x) voxels), inside ``box``.

    A component that reaches an edge of ``box`` (not the field of view's) grows the box
    (by half its size at least) and all is labelled again. The sub-grid's samples that fall
    in a kept component are marked in ``claimed`` (the sub-grid's index, its bool array), so
    a coarse region of the same component is not refined twice.

    Returns per component ``(lower, upper, n_voxels, peak, sum, first_voxel)`` in original
    indices and the map's raw units.
    """
    fp = heat.footprint
    while True:
        index = (
            np.arange(box[0][0], box[0][1], dtype=np.int64),
            np.arange(box[1][0], box[1][1], dtype=np.int64),
            np.arange(box[2][0], box[2][1], dtype=np.int64),
        )
        values = heat.spline(index)
        binary = values > threshold
        mask = heat.body(index)
        if mask is not None:
            values *= mask
            binary &= mask
        labels, _ = ndimage.label(binary, structure=structure)
        local = [seeds[a] - box[a][0] for a in range(3)]
        hit = np.unique(labels[local[0], local[1], local[2]])
        hit = hit[hit > 0]
        objects = ndimage.find_objects(labels)
        grow = False
        for lab in hit:
            slc = objects[lab - 1]
            assert slc is not None
            for a in range(3):
                step = max(2 * strides[a], (box[a][1] - box[a][0]) // 2)
                if slc[a].start == 0 and box[a][0] > fp[a].start:
                    box[a][0] = max(fp[a].start, box[a][0] - step)
                    grow = True
                if slc[a].stop == box[a][1] - box[a][0] and box[a][1] < fp[a].stop:
                    box[a][1] = min(fp[a].stop, box[a][1] + step)
                    grow = True
        if grow:
            continue
        sub_index, taken = claimed
        picks = [
            np.flatnonzero((i >= box[a][0]) & (i < box[a][1])) for a, i in enumerate(sub_index)
        ]
        at = np.ix_(*[sub_index[a][p] - box[a][0] for a, p in enumerate(picks)])
        taken[np.ix_(*picks)] |= np.isin(labels[at], hit)
        found = []
        for lab in hit:
            slc = objects[lab - 1]
            assert slc is not None
            inside = labels[slc] == lab
            vals = values[slc][inside]
            lower = tuple(int(s.start) + box[a][0] for a, s in enumerate(slc))
            upper = tuple(int(s.stop) + box[a][0] for a, s in enumerate(slc))
            first = np.unravel_index(int(np.flatnonzero(inside)[0]), inside.shape)
            first_voxel = tuple(int(f) + lower[a] for a, f in enumerate(first))
            found.append(
                (lower, upper, int(inside.sum()), float(vals.max()),
                 float(vals.sum(dtype=np.float64)), first_voxel)
            )  # fmt: skip
        return found


def _score(settings: BoxSettings, peak: float, total: float, n: int, cell: int) -> float:
    """A region's ranking score in raw units above ``lo`` (``cell`` voxels per sample)."""
    if settings.rank_by == "integral":
        return total * cell
    if settings.rank_by == "peak":
        return peak
    return peak * total / max(n, 1)


def heat_regions(
    heat: HeatVolume,
    affine: npt.ArrayLike,
    settings: BoxSettings | None = None,
    *,
    step_mm: float = 1.0,
    min_samples: int = 250_000,
) -> tuple[HeatVolume, float, tuple[HeatRegion, ...]]:
    """Scale the map and find its ranked regions without evaluating it on the whole grid.

    See the module docstring for the two steps (sub-grid, then refinement on the full grid).

    Args:
        heat: the unscaled map (its spline and body mask; its ``scale`` is ignored).
        affine: the volume's 4x4 NIfTI-convention affine (voxel sizes, in mm).
        settings: threshold, minimum volume, ranking and most boxes
            (:class:`~ankle_core.explain.boxes.BoxSettings`).
        step_mm: the sub-grid's step, mm (per axis, the nearest whole number of voxels).
        min_samples: the step is made finer (down to every voxel) until the sub-grid holds
            this many samples (every voxel of a smaller field of view): Otsu's threshold on a
            few thousand samples can be a few per cent off the full grid's, which moves
            the boxes' edges by more than a voxel.

    Returns:
        ``(scaled, threshold, regions)``: the map scaled to [0, 1], the threshold on that
        scale (infinity when no voxel is in the body) and the regions on the original grid
        (``lower``/``upper`` in original voxel indices), best first.
    """
    settings = settings or BoxSettings()
    aff = np.asarray(affine, dtype=np.float64)
    fp = heat.footprint
    if any(s.stop <= s.start for s in fp):
        return heat.rescaled(0.0, 0.0), float("inf"), ()
    strides = _strides(aff, step_mm)
    span_fp = [s.stop - s.start for s in fp]
    while (
        max(strides) > 1
        and np.prod([-(-n // k) for n, k in zip(span_fp, strides, strict=True)]) < min_samples
    ):
        # too few samples for a faithful threshold: a finer step on the coarsest axis
        big = int(np.argmax(strides))
        strides = tuple(k - 1 if a == big else k for a, k in enumerate(strides))  # type: ignore[assignment]
    index: Index = (
        np.arange(-(-fp[0].start // strides[0]) * strides[0], fp[0].stop, strides[0]),
        np.arange(-(-fp[1].start // strides[1]) * strides[1], fp[1].stop, strides[1]),
        np.arange(-(-fp[2].start // strides[2]) * strides[2], fp[2].stop, strides[2]),
    )
    if any(len(i) == 0 for i in index):  # a footprint thinner than a step: every voxel
        strides = (1, 1, 1)
        index = tuple(np.arange(s.start, s.stop, dtype=np.int64) for s in fp)  # type: ignore[assignment]
    values = heat.spline(index)
    mask = _coarse_body(heat, index, strides)
    if mask is not None:
        values *= mask
    covers_all = all(s.start == 0 and s.stop == n for s, n in zip(fp, heat.shape, strict=True))
    lo = float(values.min()) if covers_all else min(0.0, float(values.min()))
    thr = settings.threshold(values, mask)
    structure = ndimage.generate_binary_structure(3, 1)
    voxel_mm3 = abs(float(np.linalg.det(aff[:3, :3])))
    cell_mm3 = voxel_mm3 * strides[0] * strides[1] * strides[2]
    found: dict[tuple[tuple[int, ...], tuple[int, ...], int], tuple[Any, ...]] = {}
    taken = np.zeros(values.shape, dtype=bool)
    if np.isfinite(thr):
        binary = values > thr
        if mask is not None:
            binary &= mask
        labels, _ = ndimage.label(binary, structure=structure)
        if strides == (1, 1, 1):  # the sub-grid is the full grid: its regions are final
            starts = [int(i[0]) for i in index]
            for lab, slc in enumerate(ndimage.find_objects(labels), start=1):
                if slc is None:
                    continue
                inside = labels[slc] == lab
                vals = values[slc][inside]
                lower = tuple(int(sl.start) + starts[a] for a, sl in enumerate(slc))
                upper = tuple(int(sl.stop) + starts[a] for a, sl in enumerate(slc))
                first = np.unravel_index(int(np.flatnonzero(inside)[0]), inside.shape)
                found[(lower, upper, vals.size)] = (
                    lower, upper, int(vals.size), float(vals.max()),
                    float(vals.sum(dtype=np.float64)),
                    tuple(int(f) + lower[a] for a, f in enumerate(first)),
                )  # fmt: skip
            labels[...] = 0  # nothing left to refine
            binary[...] = False
        cell = strides[0] * strides[1] * strides[2]
        min_voxels = settings.min_volume_mm3 / voxel_mm3 if voxel_mm3 > 0 else 0.0
        estimate = {}
        for lab, slc in enumerate(ndimage.find_objects(labels), start=1):
            if slc is not None:
                vals = values[slc][labels[slc] == lab]
                n = vals.size
                estimate[lab] = _score(
                    settings, float(vals.max()) - lo, float(vals.sum()) - n * lo, n, cell
                )
        # regions one sample apart may join on the full grid: refine them together
        clusters = np.zeros(binary.shape, dtype=np.int32)
        if binary.any():
            clusters, _ = ndimage.label(ndimage.binary_dilation(binary, structure), structure)
            clusters[~binary] = 0
        candidates = []
        for lab, slc in enumerate(ndimage.find_objects(clusters), start=1):
            if slc is None:
                continue
            region = clusters[slc] == lab
            n = int(region.sum())
            if n * cell_mm3 < settings.min_volume_mm3 / 2.0:
                continue
            est = max(estimate[int(m)] for m in np.unique(labels[slc][region]))
            candidates.append((est, lab, slc, region))
        # the best estimates first; stop once the kept boxes outscore the rest by far
        candidates.sort(key=lambda c: (-c[0], c[1]))
        scores: list[float] = []
        for est, _, slc, region in candidates:
            most = settings.max_boxes
            kept = sorted(scores, reverse=True)
            if most is not None and len(kept) >= most and est * _ESTIMATE_MARGIN < kept[most - 1]:
                break
            if taken[slc][region].all():
                continue  # part of a component already refined
            where = np.nonzero(region)
            seeds = tuple(
                index[a][where[a] + slc[a].start] for a in range(3)
            )  # original voxels of the coarse region
            box = [
                [max(fp[a].start, int(index[a][slc[a].start]) - strides[a]),
                 min(fp[a].stop, int(index[a][slc[a].stop - 1]) + strides[a] + 1)]
                for a in range(3)
            ]  # fmt: skip
            parts = _refine(heat, seeds, box, thr, strides, structure, (index, taken))  # type: ignore[arg-type]
            for part in parts:
                key = (part[0], part[1], part[2])
                if key not in found:
                    found[key] = part
                    if part[2] >= min_voxels:
                        scores.append(_score(settings, part[3] - lo, part[4] - part[2] * lo,
                                             part[2], 1))  # fmt: skip
    hi = max([float(values.max())] + [p[3] for p in found.values()])
    scaled = heat.rescaled(lo, hi)
    span = hi - lo
    if span < 1e-12 or not np.isfinite(thr):
        return scaled, float(hi if np.isfinite(thr) else thr), ()
    min_voxels = settings.min_volume_mm3 / voxel_mm3 if voxel_mm3 > 0 else 0.0
    ranked = []
    for lower, upper, n_vox, peak_raw, total_raw, first in found.values():
        if n_vox < min_voxels:
            continue
        peak = (peak_raw - lo) / span
        total = (total_raw - n_vox * lo) / span
        mean = total / n_vox
        score = {"peak_mean": peak * mean, "integral": total, "peak": peak}[settings.rank_by]
        ranked.append((score, first, lower, upper, n_vox, peak, mean, total))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    if settings.max_boxes is not None:
        ranked = ranked[: settings.max_boxes]
    regions = tuple(
        HeatRegion(
            rank=rank,
            lower=lower,
            upper=upper,
            center=tuple((a + b - 1) / 2.0 for a, b in zip(lower, upper, strict=True)),
            n_voxels=n_vox,
            peak=peak,
            mean=mean,
            integral=total,
            score=score,
        )
        for rank, (score, _, lower, upper, n_vox, peak, mean, total) in enumerate(ranked)
    )
    return scaled, (thr - lo) / span, regions
