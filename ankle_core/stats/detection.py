"""Detection metrics: box matching, AP at IoU thresholds, recall at k false positives per
image, found-in-top-k, and confidence intervals that resample images (or their groups).

Conventions: boxes are ``(x0, y0, x1, y1)`` pixels; per image, predictions are an (M_i, 4)
array with (M_i,) scores and the ground truth a (G_i, 4) array (possibly empty).

- Matching is greedy per image, by score: each prediction takes the unmatched ground-truth
  box of highest IoU >= ``iou`` (PASCAL VOC; Everingham et al. 2010).
- AP is the area under the all-point interpolated precision-recall curve, pooled over
  images (VOC 2010+).
- Recall at ``k`` false positives per image is the FROC point (Chakraborty 1989): the share
  of ground-truth boxes found at the lowest threshold whose false positives, divided by the
  number of images, stay <= ``k``.
- Intervals: percentile bootstrap over images or over groups of images (augmented copies of
  one source, several views of one limb are not independent); Wilson (1927) for proportions
  of independent boxes (:func:`ankle_core.stats.metrics.wilson_interval`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ankle_core.stats.metrics import wilson_interval
from ankle_core.stats.roc import auc_score

__all__ = [
    "average_precision",
    "box_iou",
    "detection_report",
    "found_in_top_k",
    "grouped_bootstrap_ci",
    "image_level_scores",
    "match_detections",
    "recall_at_fp_per_image",
]

FloatArray = npt.NDArray[np.float64]
Arrays = Sequence[npt.NDArray[Any]]


def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4): shape (N, M).

    >>> float(box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10]])[0, 0])
    0.3333333333333333
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    iy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out: FloatArray = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return out


def match_detections(
    pred_boxes: Arrays, pred_scores: Arrays, gt_boxes: Arrays, iou: float = 0.5
) -> tuple[FloatArray, npt.NDArray[np.bool_], int]:
    """Greedy matching per image, pooled over images.

    Args:
        pred_boxes: per image, (M_i, 4) predicted boxes (xyxy pixels).
        pred_scores: per image, (M_i,) scores.
        gt_boxes: per image, (G_i, 4) ground-truth boxes.
        iou: IoU needed for a match.

    Returns:
        ``(scores, is_tp, n_gt)``: all predictions' scores, whether each is a true positive,
        and the number of ground-truth boxes.
    """
    scores_all: list[float] = []
    tp_all: list[bool] = []
    n_gt = 0
    for boxes, scores, gt in zip(pred_boxes, pred_scores, gt_boxes, strict=True):
        gt = np.asarray(gt, np.float64).reshape(-1, 4)
        n_gt += gt.shape[0]
        order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)[order]
        used = np.zeros(gt.shape[0], bool)
        ious = box_iou(boxes, gt) if gt.shape[0] else np.zeros((boxes.shape[0], 0))
        for k in range(boxes.shape[0]):
            cand = np.where(~used, ious[k], -1.0) if gt.shape[0] else np.zeros(0)
            hit = bool(gt.shape[0] > 0 and cand.max() >= iou)
            if hit:
                used[int(cand.argmax())] = True
            tp_all.append(hit)
        scores_all.extend(np.asarray(scores, np.float64)[order].tolist())
    return np.asarray(scores_all, np.float64), np.asarray(tp_all, bool), n_gt


def average_precision(
    pred_boxes: Arrays, pred_scores: Arrays, gt_boxes: Arrays, iou: float = 0.5
) -> float:
    """AP at ``iou`` (all-point interpolation), pooled over images; 0 when nothing matches.

    >>> box = np.array([[0, 0, 10, 10]])
    >>> average_precision([box], [np.array([0.9])], [box])
    1.0
    """
    return _ap_of_matches(*match_detections(pred_boxes, pred_scores, gt_boxes, iou))


def _ap_of_matches(scores: FloatArray, tp: npt.NDArray[np.bool_], n_gt: int) -> float:
    """AP from pooled matching results (see :func:`average_precision`)."""
    if n_gt == 0 or scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = tp[order]
    ctp = np.cumsum(tp)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, tp.size + 1)
    mrec = np.r_[0.0, recall, 1.0]
    mpre = np.r_[0.0, precision, 0.0]
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def recall_at_fp_per_image(
    pred_boxes: Arrays,
    pred_scores: Arrays,
    gt_boxes: Arrays,
    fp_per_image: float = 1.0,
    iou: float = 0.5,
) -> float:
    """Share of ground-truth boxes found (IoU >= ``iou``) at <= ``fp_per_image`` FPs/image.

    Every image counts in the denominator of the false-positive rate, fractured or not.

    >>> gt = [np.array([[0, 0, 10, 10]]), np.zeros((0, 4))]
    >>> pb = [np.array([[0, 0, 10, 10]]), np.array([[50, 50, 60, 60]])]
    >>> recall_at_fp_per_image(pb, [np.array([0.4]), np.array([0.9])], gt, 0.5)
    1.0

    Returns:
        Recall in [0, 1]; 0 when there is no ground truth.
    """
    scores, tp, n_gt = match_detections(pred_boxes, pred_scores, gt_boxes, iou)
    return _recall_of_matches(scores, tp, n_gt, len(gt_boxes), fp_per_image)


def _recall_of_matches(
    scores: FloatArray, tp: npt.NDArray[np.bool_], n_gt: int, n_images: int, fp_per_image: float
) -> float:
    """Recall at ``fp_per_image`` from pooled matching results."""
    if n_gt == 0 or scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    s, tp = scores[order], tp[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
    last = np.r_[s[1:] != s[:-1], True]  # a threshold can only sit between distinct scores
    ok = last & (cfp / max(n_images, 1) <= fp_per_image)
    return float(ctp[ok].max() / n_gt) if ok.any() else 0.0


def found_in_top_k(
    pred_boxes: Arrays, pred_scores: Arrays, gt_boxes: Arrays, k: int = 5, iou: float = 0.3
) -> tuple[int, int]:
    """Ground-truth boxes overlapping (IoU >= ``iou``) any of their image's ``k`` best boxes.

    No one-to-one matching: a reader shown the top ``k`` boxes would see each such fracture.

    >>> found_in_top_k([np.array([[0, 0, 10, 10]])], [np.array([0.1])], [np.array([[1, 1, 9, 9]])])
    (1, 1)

    Returns:
        ``(found, total)`` ground-truth boxes.
    """
    found = total = 0
    for boxes, scores, gt in zip(pred_boxes, pred_scores, gt_boxes, strict=True):
        gt = np.asarray(gt, np.float64).reshape(-1, 4)
        total += gt.shape[0]
        if not gt.shape[0]:
            continue
        order = np.argsort(-np.asarray(scores, np.float64), kind="stable")[:k]
        top = np.asarray(boxes, np.float64).reshape(-1, 4)[order]
        if top.shape[0]:
            found += int((box_iou(gt, top).max(axis=1) >= iou).sum())
    return found, total


def image_level_scores(pred_scores: Arrays) -> FloatArray:
    """Per image, the highest box score (0 when the image has no box). Shape (N,)."""
    return np.array([float(np.max(s)) if np.size(s) else 0.0 for s in pred_scores])


def grouped_bootstrap_ci(
    statistic: Callable[[npt.NDArray[np.int64]], float],
    groups: Sequence[str],
    *,
    n_boot: int = 2000,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of ``statistic(image_indices)`` resampling groups with replacement.

    Args:
        statistic: maps an index array of images (with repeats) to a number; replicates
            where it raises ``ValueError`` (e.g. one class only) are skipped.
        groups: per image, its group key (the image's own name when images are independent).
        n_boot: replicates.
        rng: random generator (default: seed 0).
        level: coverage.

    Returns:
        (lower, upper), rounded to 4 decimals; NaNs when no replicate could be computed.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    keys = sorted(set(groups))
    members: dict[str, list[int]] = {k: [] for k in keys}
    for i, g in enumerate(groups):
        members[g].append(i)
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(keys), len(keys))
        idx = np.concatenate([members[keys[int(j)]] for j in pick]).astype(np.int64)
        try:
            values.append(statistic(idx))
        except ValueError:
            continue
    if not values:
        return (float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return (round(float(lo), 4), round(float(hi), 4))


def detection_report(
    pred_boxes: Arrays,
    pred_scores: Arrays,
    gt_boxes: Arrays,
    groups: Sequence[str],
    *,
    image_scores: npt.ArrayLike | None = None,
    image_truth: npt.ArrayLike | None = None,
    n_boot: int = 2000,
    rng: np.random.Generator | None = None,
) -> dict[str, dict[str, Any]]:
    """Box- and image-level figures of a localiser, each with a 95% CI.

    Args:
        pred_boxes: per image (M_i, 4) predicted boxes, pixels.
        pred_scores: per image (M_i,) scores.
        gt_boxes: per image (G_i, 4) ground truth.
        groups: per image, its resampling group.
        image_scores: (N,) image-level scores (default: the top box score).
        image_truth: (N,) 0/1 image labels (default: 1 where the image has a box).
        n_boot: bootstrap replicates.
        rng: random generator (default: seed 0).

    Returns:
        ``ap50``, ``ap30``, ``recall_at_1fp_iou05``, ``recall_at_2fp_iou05``,
        ``recall_at_1fp_iou03``, ``recall_at_2fp_iou03``, ``image_auc`` (grouped percentile
        bootstrap) and ``found_top5_iou03`` (Wilson), each
        ``{"value", "ci95", "n", "ci_method"}``.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    pb, ps, gt = list(pred_boxes), list(pred_scores), list(gt_boxes)
    img_score = image_level_scores(ps) if image_scores is None else np.asarray(image_scores)
    truth = (
        np.array([int(np.size(g) > 0) for g in gt])
        if image_truth is None
        else np.asarray(image_truth, int)
    )
    n_gt = int(sum(np.asarray(g).reshape(-1, 4).shape[0] for g in gt))
    n_groups = len(set(groups))
    method = f"percentile bootstrap over {n_groups} groups, {n_boot} replicates"

    # Matching is per image, so it is done once; a replicate only re-weights each image's
    # predictions by how often the image was drawn (all arrays pre-sorted by score).
    n_img = len(pb)
    gt_per_image = np.array([np.asarray(g).reshape(-1, 4).shape[0] for g in gt], np.float64)
    sorted_matches: dict[float, tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]] = {}
    for iou in (0.5, 0.3):
        per = [match_detections([b], [sc], [g], iou) for b, sc, g in zip(pb, ps, gt, strict=True)]
        sc_all = np.concatenate([m[0] for m in per]) if per else np.zeros(0)
        tp_all = np.concatenate([m[1] for m in per]).astype(np.float64) if per else np.zeros(0)
        img = np.concatenate([np.full(m[0].size, i, np.int64) for i, m in enumerate(per)])
        order = np.argsort(-sc_all, kind="stable")
        sorted_matches[iou] = (sc_all[order], tp_all[order], img[order])

    def curve(idx: npt.NDArray[np.int64], iou: float) -> tuple[FloatArray, ...]:
        counts = np.bincount(idx, minlength=n_img).astype(np.float64)
        sc_s, tp_s, img_s = sorted_matches[iou]
        w = counts[img_s]
        return sc_s, np.cumsum(w * tp_s), np.cumsum(w * (1 - tp_s)), counts

    def ap(idx: npt.NDArray[np.int64], iou: float) -> float:
        _, ctp, cfp, counts = curve(idx, iou)
        n = float(counts @ gt_per_image)
        if n == 0 or ctp.size == 0:
            return 0.0
        recall = ctp / n
        precision = ctp / np.maximum(ctp + cfp, 1e-12)
        mrec = np.r_[0.0, recall, 1.0]
        mpre = np.maximum.accumulate(np.r_[0.0, precision, 0.0][::-1])[::-1]
        step = np.where(mrec[1:] != mrec[:-1])[0]
        return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))

    def recall_at(idx: npt.NDArray[np.int64], iou: float, k: float) -> float:
        sc_s, ctp, cfp, counts = curve(idx, iou)
        n = float(counts @ gt_per_image)
        if n == 0 or ctp.size == 0:
            return 0.0
        last = np.r_[sc_s[1:] != sc_s[:-1], True]
        ok = last & (cfp / max(len(idx), 1) <= k)
        return float(ctp[ok].max() / n) if ok.any() else 0.0

    def auc(idx: npt.NDArray[np.int64]) -> float:
        y = truth[idx]
        if y.min() == y.max():
            raise ValueError("one class")
        return float(auc_score(y, img_score[idx]))

    stats: dict[str, tuple[Callable[[npt.NDArray[np.int64]], float], int]] = {
        "ap50": (lambda i: ap(i, 0.5), n_gt),
        "ap30": (lambda i: ap(i, 0.3), n_gt),
        "image_auc": (auc, len(pb)),
    }
    for k in (1, 2):
        for iou in (0.5, 0.3):
            stats[f"recall_at_{k}fp_iou{int(iou * 10):02d}"] = (
                functools.partial(recall_at, iou=iou, k=float(k)),
                n_gt,
            )
    everyone = np.arange(len(pb), dtype=np.int64)
    out: dict[str, dict[str, Any]] = {}
    for key, (fn, n) in stats.items():
        try:
            value = round(fn(everyone), 4)
        except ValueError:  # e.g. an AUC on images of one class only
            value = float("nan")
        out[key] = {
            "value": value,
            "ci95": list(grouped_bootstrap_ci(fn, groups, n_boot=n_boot, rng=rng)),
            "n": n,
            "ci_method": method,
        }
    out["image_auc"]["n_positive_images"] = int(truth.sum())
    found, total = found_in_top_k(pb, ps, gt, k=5, iou=0.3)
    lo, hi = wilson_interval(found, total)
    out["found_top5_iou03"] = {
        "value": round(found / total, 4) if total else float("nan"),
        "ci95": [round(lo, 4), round(hi, 4)],
        "n": total,
        "found": found,
        "ci_method": "Wilson score interval over boxes",
    }
    return out
