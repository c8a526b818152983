"""Boxes around the hot regions of a heat map: Otsu's threshold, then connected components.

The CT study's localisation step (its steps 2 and 3): threshold the upsampled Grad-CAM by
Otsu's method (Otsu 1979, ``skimage.filters.threshold_otsu``), or optionally by the highest
of multi-level Otsu's thresholds (Liao et al. 2001, ``skimage.filters.threshold_multiotsu``;
``otsu_classes=3`` keeps the hottest of three classes, a tighter cut when a map is warm over
a whole joint and hot on the fracture), label the connected regions
above it (``scipy.ndimage.label``, face connectivity by default), and draw each region's
bounding box. Works on maps of any dimension (2D radiograph maps, 3D CT maps).

Per region: the box (lower inclusive, upper exclusive indices), its centre, the number of
voxels, and the peak, mean and integrated (summed) activation. Regions smaller than
``min_volume`` (in the caller's units, e.g. mm^3 with ``voxel_volume`` in mm^3) are dropped.
Regions are ranked by a score, highest first:

- ``"peak_mean"`` (default): peak x mean activation. Size-independent, so a small, intense
  region outranks a large, lukewarm one (a fracture is small);
- ``"integral"``: summed activation (favours large regions);
- ``"peak"``: the peak alone.

Ties keep the order of the labels (scan order).

Memory: one boolean mask and one int32 label array the size of the map; per-region values
are read through each region's bounding box only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from skimage.filters import threshold_multiotsu, threshold_otsu

__all__ = ["HeatRegion", "RankBy", "find_regions", "otsu_threshold"]

RankBy = Literal["peak_mean", "integral", "peak"]


@dataclass(frozen=True)
class HeatRegion:
    """One connected region above the threshold.

    Attributes:
        rank: 0 for the best region.
        lower: first index of the bounding box, per axis (inclusive).
        upper: one past the last index, per axis (exclusive).
        center: box centre, continuous index per axis (``(lower + upper - 1) / 2``).
        n_voxels: voxels (pixels) in the region itself, not its box.
        peak: highest activation in the region.
        mean: mean activation in the region.
        integral: summed activation in the region.
        score: the ranking score.
    """

    rank: int
    lower: tuple[int, ...]
    upper: tuple[int, ...]
    center: tuple[float, ...]
    n_voxels: int
    peak: float
    mean: float
    integral: float
    score: float


def otsu_threshold(
    heat: npt.NDArray[np.floating],
    mask: npt.NDArray[np.bool_] | None = None,
    nbins: int = 256,
    *,
    classes: int = 2,
) -> float:
    """Otsu's (1979) threshold of ``heat`` (optionally only where ``mask``).

    With ``classes`` above 2, the highest of the multi-level Otsu thresholds that split the
    values into that many classes (what lies above it is the hottest class).

    The histogram (``nbins`` bins over the values' range, as ``skimage.filters.threshold_otsu``
    builds it) is accumulated slab by slab along the first axis, so a 512 x 512 x 400 map
    costs no copy of the map. Returns the map's maximum when it is constant (so nothing lies
    above it), and infinity when ``mask`` selects nothing.

    >>> x = np.r_[np.full(50, 0.1), np.full(50, 0.9)]
    >>> int((x > otsu_threshold(x)).sum())
    50
    """
    if mask is not None and mask.shape != heat.shape:
        raise ValueError(f"mask shape {mask.shape} differs from the map's {heat.shape}.")
    if not 2 <= classes <= 5:
        raise ValueError(f"Otsu classes must be 2 to 5, got {classes}.")
    slabs = _slabs(heat, mask)
    lo, hi, n = np.inf, -np.inf, 0
    for values in slabs():
        if values.size:
            lo, hi, n = min(lo, float(values.min())), max(hi, float(values.max())), n + values.size
    if n == 0:
        return float("inf")
    if hi - lo < 1e-12:
        return float(hi)
    counts = np.zeros(nbins, dtype=np.int64)
    for values in slabs():
        counts += np.histogram(values, bins=nbins, range=(lo, hi))[0]
    edges = np.linspace(lo, hi, nbins + 1)
    centers = (edges[:-1] + edges[1:]) / 2.0
    if classes == 2:
        return float(threshold_otsu(hist=(counts, centers)))  # type: ignore[no-untyped-call]
    cuts = threshold_multiotsu(hist=(counts, centers), classes=classes)  # type: ignore[no-untyped-call]
    return float(cuts[-1])


def _slabs(
    heat: npt.NDArray[np.floating], mask: npt.NDArray[np.bool_] | None
) -> Callable[[], Iterator[npt.NDArray[np.floating]]]:
    """A re-iterable source of the (masked) values, one first-axis slab at a time."""

    def gen() -> Iterator[npt.NDArray[np.floating]]:
        if heat.ndim < 2:
            yield heat[mask] if mask is not None else heat.ravel()
            return
        for i in range(heat.shape[0]):
            yield heat[i][mask[i]] if mask is not None else heat[i].ravel()

    return gen


def find_regions(
    heat: npt.NDArray[np.floating],
    *,
    threshold: float | Literal["otsu"] = "otsu",
    voxel_volume: float = 1.0,
    min_volume: float = 0.0,
    rank_by: RankBy = "peak_mean",
    mask: npt.NDArray[np.bool_] | None = None,
    connectivity: int = 1,
    max_regions: int | None = None,
    otsu_classes: int = 2,
) -> tuple[HeatRegion, ...]:
    """Threshold, label and rank the hot regions of a heat map.

    Args:
        heat: map of any dimension (e.g. (z, y, x) in [0, 1]).
        threshold: a value, or ``"otsu"`` for Otsu's threshold (voxels strictly above it
            are kept).
        voxel_volume: volume of one voxel (e.g. mm^3), for ``min_volume``.
        min_volume: regions with ``n_voxels * voxel_volume`` below this are dropped.
        rank_by: ``"peak_mean"``, ``"integral"`` or ``"peak"`` (see the module docstring).
        mask: only voxels where ``mask`` is True take part (Otsu and regions).
        connectivity: 1 = faces, up to ``heat.ndim`` = faces, edges and corners.
        max_regions: keep at most this many (after ranking).
        otsu_classes: 2 for Otsu's threshold; 3 to 5 for the highest multi-level Otsu
            threshold (used with ``threshold="otsu"`` only).

    Returns:
        The regions, best first (``rank`` 0, 1, ...).

    >>> h = np.zeros((1, 8)); h[0, 1:3] = 1.0; h[0, 5] = 0.8
    >>> [(r.lower, r.upper, r.peak) for r in find_regions(h, threshold=0.5)]
    [((0, 1), (1, 3), 1.0), ((0, 5), (1, 6), 0.8)]
    """
    if rank_by not in ("peak_mean", "integral", "peak"):
        raise ValueError(f"rank_by must be 'peak_mean', 'integral' or 'peak', got {rank_by!r}.")
    if threshold == "otsu":
        thr = otsu_threshold(heat, mask, classes=otsu_classes)
    else:
        thr = float(threshold)
    binary = heat > thr
    if mask is not None:
        binary &= mask
    structure = ndimage.generate_binary_structure(heat.ndim, connectivity)
    labels, n = ndimage.label(binary, structure=structure)
    del binary
    if n == 0:
        return ()
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    min_voxels = min_volume / voxel_volume if voxel_volume > 0 else 0.0
    found = []
    for index, slc in enumerate(ndimage.find_objects(labels), start=1):
        if slc is None or sizes[index] < min_voxels or sizes[index] == 0:
            continue
        values = heat[slc][labels[slc] == index]
        peak, total = float(values.max()), float(values.sum(dtype=np.float64))
        mean = total / values.size
        score = {"peak_mean": peak * mean, "integral": total, "peak": peak}[rank_by]
        lower = tuple(int(s.start) for s in slc)
        upper = tuple(int(s.stop) for s in slc)
        center = tuple((lo + hi - 1) / 2.0 for lo, hi in zip(lower, upper, strict=True))
        found.append((score, index, lower, upper, center, int(sizes[index]), peak, mean, total))
    found.sort(key=lambda item: (-item[0], item[1]))
    if max_regions is not None:
        found = found[:max_regions]
    return tuple(
        HeatRegion(
            rank=rank,
            lower=lower,
            upper=upper,
            center=center,
            n_voxels=n_vox,
            peak=peak,
            mean=mean,
            integral=total,
            score=score,
        )
        for rank, (score, _, lower, upper, center, n_vox, peak, mean, total) in enumerate(found)
    )
