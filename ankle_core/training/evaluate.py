"""Evaluation of the radiograph models: AP@0.5 and recall for boxes, AUC and thresholds.

- Detection: each predicted box (by score, descending) matches the unmatched ground-truth
  box of highest IoU >= ``iou``; AP is the area under the all-point interpolated
  precision-recall curve (PASCAL VOC 2010+), over all images pooled.
- Classification: AUC with a 95% CI and the operating points come from
  :mod:`ankle_core.stats` (stratified bootstrap, DeLong; thresholds chosen on validation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ankle_core.models.card import OperatingPoints

__all__ = [
    "auc_with_ci",
    "average_precision",
    "classifier_operating_points",
    "detection_recall",
    "detection_threshold",
    "match_detections",
]

FloatArray = npt.NDArray[np.float64]


def _iou_matrix(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> FloatArray:
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    iy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    ix, iy = np.clip(ix, 0, None), np.clip(iy, 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out: FloatArray = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return out


def match_detections(
    pred_boxes: Sequence[npt.NDArray[Any]],
    pred_scores: Sequence[npt.NDArray[Any]],
    gt_boxes: Sequence[npt.NDArray[Any]],
    iou: float = 0.5,
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
    scores_all, tp_all = [], []
    n_gt = 0
    for boxes, scores, gt in zip(pred_boxes, pred_scores, gt_boxes, strict=True):
        gt = np.asarray(gt, np.float64).reshape(-1, 4)
        n_gt += gt.shape[0]
        order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)[order]
        used = np.zeros(gt.shape[0], bool)
        ious = _iou_matrix(boxes, gt) if gt.shape[0] else np.zeros((boxes.shape[0], 0))
        for k in range(boxes.shape[0]):
            cand = np.where(~used, ious[k], -1.0) if gt.shape[0] else np.zeros(0)
            hit = gt.shape[0] > 0 and cand.max() >= iou
            if hit:
                used[int(cand.argmax())] = True
            tp_all.append(hit)
        scores_all.extend(np.asarray(scores, np.float64)[order].tolist())
    return np.asarray(scores_all, np.float64), np.asarray(tp_all, bool), n_gt


def average_precision(
    pred_boxes: Sequence[npt.NDArray[Any]],
    pred_scores: Sequence[npt.NDArray[Any]],
    gt_boxes: Sequence[npt.NDArray[Any]],
    iou: float = 0.5,
) -> float:
    """AP at ``iou`` (all-point interpolation), pooled over images; 0 when nothing matches.

    >>> box = np.array([[0, 0, 10, 10]])
    >>> average_precision([box], [np.array([0.9])], [box])
    1.0
    """
    scores, tp, n_gt = match_detections(pred_boxes, pred_scores, gt_boxes, iou)
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


def detection_recall(
    pred_boxes: Sequence[npt.NDArray[Any]],
    pred_scores: Sequence[npt.NDArray[Any]],
    gt_boxes: Sequence[npt.NDArray[Any]],
    threshold: float,
    iou: float = 0.5,
) -> tuple[int, int]:
    """(ground-truth boxes found by a box scoring >= ``threshold`` at IoU >= ``iou``, total)."""
    kept_b, kept_s = [], []
    for b, s in zip(pred_boxes, pred_scores, strict=True):
        keep = np.asarray(s) >= threshold
        kept_b.append(np.asarray(b).reshape(-1, 4)[keep])
        kept_s.append(np.asarray(s)[keep])
    _, tp, n_gt = match_detections(kept_b, kept_s, gt_boxes, iou)
    return int(tp.sum()), n_gt


def detection_threshold(
    pred_boxes: Sequence[npt.NDArray[Any]],
    pred_scores: Sequence[npt.NDArray[Any]],
    gt_boxes: Sequence[npt.NDArray[Any]],
    iou: float = 0.5,
) -> OperatingPoints:
    """Detection score thresholds chosen on validation data.

    ``default`` maximises F1 at ``iou``; ``high_sensitivity`` is the largest threshold that
    keeps recall >= 0.95 (or the default when none does); ``high_specificity`` the smallest
    with precision >= 0.95 (or the default). The pipeline keeps boxes scoring >= default.
    """
    scores, tp, n_gt = match_detections(pred_boxes, pred_scores, gt_boxes, iou)
    if scores.size == 0 or n_gt == 0:
        return OperatingPoints(0.5, 0.5, 0.5, "validation (no detections)")
    order = np.argsort(-scores, kind="stable")
    s, tp = scores[order], tp[order]
    ctp = np.cumsum(tp)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, s.size + 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1))
    default = float(s[best])
    hs_ok = np.where(recall >= 0.95)[0]
    high_sens = float(s[hs_ok[0]]) if hs_ok.size else default
    hp_ok = np.where(precision >= 0.95)[0]
    high_spec = float(s[hp_ok[-1]]) if hp_ok.size else default
    high_sens, high_spec = min(high_sens, default), max(high_spec, default)
    return OperatingPoints(
        default=default,
        high_sensitivity=high_sens,
        high_specificity=high_spec,
        chosen_on=f"validation split, {n_gt} boxes (F1-max at IoU {iou})",
    )


def auc_with_ci(
    y: npt.ArrayLike, score: npt.ArrayLike, *, seed: int, n_boot: int = 2000
) -> dict[str, Any]:
    """AUC with a stratified-bootstrap 95% CI, as a card metric dict.

    Returns:
        ``{"value", "ci95", "method", "n", "n_pos", "n_neg"}``.
    """
    from ankle_core.stats.roc import auc_ci

    res = auc_ci(y, score, method="bootstrap", n_boot=n_boot, rng=np.random.default_rng(seed))
    return {
        "value": round(res.auc, 4),
        "ci95": [round(res.ci_low, 4), round(res.ci_high, 4)],
        "method": f"stratified bootstrap percentile, {n_boot} replicates",
        "n": res.n_pos + res.n_neg,
        "n_pos": res.n_pos,
        "n_neg": res.n_neg,
    }


def classifier_operating_points(
    y: npt.ArrayLike, score: npt.ArrayLike, *, chosen_on: str
) -> OperatingPoints:
    """Default (Youden), high-sensitivity (sens >= 0.95) and high-specificity (spec >= 0.95)
    thresholds on validation data, via :mod:`ankle_core.stats.thresholds`.

    Infinite thresholds (all or none called positive) are clipped to [0, 1].
    """
    from ankle_core.stats.thresholds import choose_operating_points, choose_threshold

    pair = choose_operating_points(y, score, sensitivity=0.95, specificity=0.95)
    youden = choose_threshold(y, score, method="youden")

    def clip(v: float) -> float:
        return float(min(1.0, max(0.0, v)))

    low, high = clip(pair.rule_out.value), clip(pair.rule_in.value)
    # the pipeline calls SFO at p <= high_sensitivity; stats calls negative at p < rule_out.
    # Nudge down by one ulp-like step so that the boundary case keeps its stats meaning.
    low = max(0.0, float(np.nextafter(low, -1.0)))
    return OperatingPoints(
        default=clip(youden.value),
        high_sensitivity=min(low, high),
        high_specificity=high,
        chosen_on=chosen_on,
    )
