"""Boxes around the hot regions of a heat map: Otsu's threshold, then connected components.

The reference paper's localisation step (its steps 2 and 3): threshold the upsampled Grad-CAM by
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

:class:`BoxSettings` is the one place that says how CT boxes are drawn: the body mask, the
threshold method and its classes, the smallest region (mm^3), the ranking and the most boxes.
Model cards (their ``explanation`` entry, through :meth:`BoxSettings.from_dict`), the CT
pipeline, its result (which carries the threshold it used), the SEG export and the UI all
read it.

Memory: one boolean mask and one int32 label array the size of the map; per-region values
are read through each region's bounding box only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from skimage.filters import threshold_multiotsu, threshold_otsu

from ankle_core.preprocess.spatial import body_mask, body_mask_window

__all__ = [
    "BoxSettings",
    "HeatRegion",
    "RankBy",
    "ThresholdMethod",
    "find_regions",
    "otsu_threshold",
]

RankBy = Literal["peak_mean", "integral", "peak"]
ThresholdMethod = Literal["otsu"]
_RANKS: tuple[str, ...] = ("peak_mean", "integral", "peak")
_METHODS: tuple[str, ...] = ("otsu",)


@dataclass(frozen=True)
class BoxSettings:
    """How the boxes of a CT heat map are drawn (defaults: the reference paper's Otsu).

    Attributes:
        body_threshold_hu: the map is restricted to the body (HU above this, holes filled,
            2-voxel margin) and the threshold is taken over the body alone; None: everywhere.
        threshold_method: ``"otsu"`` (Otsu 1979, or its multi-level form, see below).
        otsu_classes: 2 for Otsu's threshold; 3 to 5 keeps the hottest class of multi-level
            Otsu.
        min_volume_mm3: regions smaller than this (mm^3) are dropped.
        rank_by: ``"peak_mean"``, ``"integral"`` or ``"peak"`` (see the module docstring).
        max_boxes: most boxes kept, best first (None: all).

    >>> BoxSettings.from_dict({"otsu_classes": 3}).label
    '3-class Otsu'
    """

    body_threshold_hu: float | None = -500.0
    threshold_method: ThresholdMethod = "otsu"
    otsu_classes: int = 2
    min_volume_mm3: float = 20.0
    rank_by: RankBy = "peak_mean"
    max_boxes: int | None = 10

    def __post_init__(self) -> None:
        if self.threshold_method not in _METHODS:
            raise ValueError(
                f"Threshold method must be one of {_METHODS}, got {self.threshold_method!r}."
            )
        if not 2 <= self.otsu_classes <= 5:
            raise ValueError(f"Otsu classes must be 2 to 5, got {self.otsu_classes}.")
        if self.min_volume_mm3 < 0:
            raise ValueError(f"min_volume_mm3 must be >= 0, got {self.min_volume_mm3}.")
        if self.rank_by not in _RANKS:
            raise ValueError(f"rank_by must be one of {_RANKS}, got {self.rank_by!r}.")
        if self.max_boxes is not None and self.max_boxes < 1:
            raise ValueError(f"max_boxes must be at least 1 or None, got {self.max_boxes}.")

    @classmethod
    def keys(cls) -> frozenset[str]:
        """The entry names :meth:`from_dict` reads."""
        return frozenset(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> BoxSettings:
        """Settings from a card's ``explanation`` entry; missing keys take the defaults.

        Raises:
            ValueError: an unknown key or a bad value.
        """
        data = dict(data or {})
        unknown = set(data) - cls.keys()
        if unknown:
            raise ValueError(f"Unknown box settings: {sorted(unknown)}.")
        default = cls()
        body = data.get("body_threshold_hu", default.body_threshold_hu)
        most = data.get("max_boxes", default.max_boxes)
        return cls(
            body_threshold_hu=None if body is None else float(body),
            threshold_method=data.get("threshold_method", default.threshold_method),
            otsu_classes=int(data.get("otsu_classes", default.otsu_classes)),
            min_volume_mm3=float(data.get("min_volume_mm3", default.min_volume_mm3)),
            rank_by=data.get("rank_by", default.rank_by),
            max_boxes=None if most is None else int(most),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (part of a card's ``explanation`` entry)."""
        return asdict(self)

    @property
    def label(self) -> str:
        """Plain words for the threshold, e.g. ``"Otsu"`` or ``"3-class Otsu"``."""
        return "Otsu" if self.otsu_classes == 2 else f"{self.otsu_classes}-class Otsu"

    def body(
        self,
        hu: npt.NDArray[np.floating],
        *,
        window: tuple[slice, slice, slice] | None = None,
    ) -> npt.NDArray[np.bool_] | None:
        """(z, y, x) mask of the scanned body in a HU volume; None when not restricted.

        With ``window`` (e.g. the model's field of view), the mask covers that part alone
        and is computed there alone
        (:func:`~ankle_core.preprocess.spatial.body_mask_window`), far cheaper on a fine
        scan than the whole grid.
        """
        if self.body_threshold_hu is None:
            return None
        if window is not None:
            part: npt.NDArray[np.bool_] = body_mask_window(
                hu, window, threshold_hu=self.body_threshold_hu
            )
            return part
        mask: npt.NDArray[np.bool_] = body_mask(hu, threshold_hu=self.body_threshold_hu)
        return mask

    def threshold(
        self, heat: npt.NDArray[np.floating], mask: npt.NDArray[np.bool_] | None = None
    ) -> float:
        """The heat-map value the regions lie above (over ``mask`` when given)."""
        return otsu_threshold(heat, mask, classes=self.otsu_classes)

    def regions(
        self,
        heat: npt.NDArray[np.floating],
        threshold: float,
        *,
        voxel_volume_mm3: float,
        mask: npt.NDArray[np.bool_] | None = None,
    ) -> tuple[HeatRegion, ...]:
        """The ranked regions of ``heat`` above ``threshold`` (see :func:`find_regions`)."""
        return find_regions(
            heat,
            threshold=threshold,
            mask=mask,
            voxel_volume=voxel_volume_mm3,
            min_volume=self.min_volume_mm3,
            rank_by=self.rank_by,
            max_regions=self.max_boxes,
        )


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
