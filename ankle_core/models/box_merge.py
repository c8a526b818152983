"""Readable boxes: merge near-duplicate 2D boxes across a whole result, whatever their class.

A detector's own non-maximum suppression works per class and at a fixed IoU, so a result can
still hold several boxes stacked on one spot (a fragment found at three scales), whose
labels then hide one another. :func:`merge_overlapping` is a greedy, class-agnostic
suppression: boxes are taken by score, highest first, and a box is dropped when it overlaps
a kept one by IoU >= ``iou``, or when at least ``containment`` of its area lies inside a kept
box (a small box nested in a larger one). The threshold comes from the detector's card
(``postprocessing.merge_iou``).

:func:`fuse_overlapping` is the weighted-box-fusion variant the radiograph pipeline uses:
boxes are clustered the same greedy way (IoU >= ``iou`` with the cluster's first, highest
scoring box) and each cluster becomes ONE box, the score-weighted mean of its members'
corners, scored by its best member. Fusing keeps the localisation that plain suppression
loses when a lower-scoring box of a cluster sat better on the fragment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_CONTAINMENT", "fuse_overlapping", "merge_overlapping"]

#: Share of a box's area inside a kept box above which it counts as a duplicate.
DEFAULT_CONTAINMENT = 0.8


def merge_overlapping(
    boxes: npt.ArrayLike,
    scores: Sequence[float] | npt.NDArray[np.floating],
    iou: float,
    *,
    containment: float = DEFAULT_CONTAINMENT,
) -> list[int]:
    """Indices of the boxes kept, by score descending (see the module docstring).

    Args:
        boxes: (N, 4) x0, y0, x1, y1.
        scores: (N,) scores.
        iou: IoU at or above which the lower-scoring box is dropped (1 or more: keep all).
        containment: share of a box's area inside a kept box at or above which it is dropped.

    Returns:
        Kept indices into ``boxes``, highest score first.

    >>> merge_overlapping([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], [0.9, 0.8, 0.7], 0.5)
    [0, 2]
    >>> merge_overlapping([[0, 0, 10, 10], [2, 2, 6, 6]], [0.9, 0.85], 0.5)
    [0]
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(scores, np.float64).reshape(-1)
    if b.shape[0] != s.shape[0]:
        raise ValueError(f"{b.shape[0]} boxes but {s.shape[0]} scores")
    order = np.argsort(-s, kind="stable")
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    kept: list[int] = []
    for i in order.tolist():
        duplicate = False
        for k in kept:
            ix = max(0.0, min(b[i, 2], b[k, 2]) - max(b[i, 0], b[k, 0]))
            iy = max(0.0, min(b[i, 3], b[k, 3]) - max(b[i, 1], b[k, 1]))
            inter = ix * iy
            union = area[i] + area[k] - inter
            if (union > 0 and inter / union >= iou) or (
                area[i] > 0 and inter / area[i] >= containment
            ):
                duplicate = True
                break
        if not duplicate:
            kept.append(int(i))
    return kept


def fuse_overlapping(
    boxes: npt.ArrayLike, scores: Sequence[float] | npt.NDArray[np.floating], iou: float
) -> list[tuple[int, list[int], tuple[float, float, float, float]]]:
    """Weighted box fusion of overlapping boxes (see the module docstring).

    Args:
        boxes: (N, 4) x0, y0, x1, y1.
        scores: (N,) scores (weights of the fusion).
        iou: IoU with a cluster's best box at or above which a box joins the cluster.

    Returns:
        One ``(best index, member indices, fused box)`` per cluster, by best score.

    >>> [(i, m) for i, m, _ in fuse_overlapping([[0, 0, 10, 10], [1, 0, 11, 10]], [0.9, 0.3], 0.5)]
    [(0, [0, 1])]
    >>> fuse_overlapping([[0, 0, 10, 10], [2, 0, 12, 10]], [0.5, 0.5], 0.5)[0][2]
    (1.0, 0.0, 11.0, 10.0)
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(scores, np.float64).reshape(-1)
    if b.shape[0] != s.shape[0]:
        raise ValueError(f"{b.shape[0]} boxes but {s.shape[0]} scores")
    order = np.argsort(-s, kind="stable").tolist()
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    used = np.zeros(b.shape[0], bool)
    out = []
    for i in order:
        if used[i]:
            continue
        members = [int(i)]
        used[i] = True
        for j in order:
            if used[j]:
                continue
            ix = max(0.0, min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]))
            iy = max(0.0, min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]))
            inter = ix * iy
            union = area[i] + area[j] - inter
            if union > 0 and inter / union >= iou:
                members.append(int(j))
                used[j] = True
        w = np.maximum(s[members], 1e-9)
        fused = (b[members] * w[:, None]).sum(axis=0) / w.sum()
        out.append(
            (int(i), members, (float(fused[0]), float(fused[1]), float(fused[2]), float(fused[3])))
        )
    return out
