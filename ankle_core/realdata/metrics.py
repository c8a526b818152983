"""Localiser metrics with 95% CIs bootstrapped over source-image groups.

Augmented copies of one source image are not independent, so every interval here resamples
groups (source images) with replacement, never files: AP at IoU 0.5, the image-level
fracture AUC (top box score as the image score; 0 for an image with no box) and the
sensitivity at one false positive per image (FROC point: the share of ground-truth boxes found
at the lowest threshold whose false positives per image stay <= 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ankle_core.stats.roc import auc_score
from ankle_core.training.evaluate import average_precision, match_detections

__all__ = [
    "grouped_bootstrap_ci",
    "image_level_scores",
    "localiser_report",
    "sensitivity_at_fp_rate",
]

Arrays = Sequence[npt.NDArray[Any]]


def image_level_scores(pred_scores: Arrays) -> npt.NDArray[np.float64]:
    """Per image, the highest box score (0 when the image has no box). Shape (N,)."""
    return np.array([float(np.max(s)) if np.size(s) else 0.0 for s in pred_scores])


def sensitivity_at_fp_rate(
    pred_boxes: Arrays,
    pred_scores: Arrays,
    gt_boxes: Arrays,
    fp_per_image: float = 1.0,
    iou: float = 0.5,
) -> float:
    """Share of ground-truth boxes found (IoU >= ``iou``) at <= ``fp_per_image`` FPs/image.

    Args:
        pred_boxes: per image (M_i, 4) xyxy pixels.
        pred_scores: per image (M_i,).
        gt_boxes: per image (G_i, 4).
        fp_per_image: allowed false positives per image (all images count).
        iou: match IoU.

    Returns:
        Sensitivity in [0, 1]; 0 when there is no ground truth.
    """
    scores, tp, n_gt = match_detections(pred_boxes, pred_scores, gt_boxes, iou)
    if n_gt == 0 or scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    s, tp = scores[order], tp[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
    # a threshold can only sit between distinct scores: use the last index of each score
    last = np.r_[s[1:] != s[:-1], True]
    ok = last & (cfp / len(gt_boxes) <= fp_per_image)
    return float(ctp[ok].max() / n_gt) if ok.any() else 0.0


def grouped_bootstrap_ci(
    statistic: Callable[[npt.NDArray[np.int64]], float],
    groups: Sequence[str],
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile 95% interval of ``statistic(image_indices)`` resampling groups.

    Args:
        statistic: maps an index array of images (with repeats) to a number; replicates
            where it raises ``ValueError`` (e.g. one class only) are skipped.
        groups: per image, its group key.
        n_boot: replicates.
        seed: random seed.

    Returns:
        (lower, upper), rounded to 4 decimals.
    """
    keys = sorted(set(groups))
    members = {k: [] for k in keys}  # type: dict[str, list[int]]
    for i, g in enumerate(groups):
        members[g].append(i)
    rng = np.random.default_rng(seed)
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
    lo, hi = np.percentile(values, [2.5, 97.5])
    return (round(float(lo), 4), round(float(hi), 4))


def localiser_report(
    pred_boxes: Arrays,
    pred_scores: Arrays,
    gt_boxes: Arrays,
    groups: Sequence[str],
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """AP@0.5, image AUC and sensitivity at 1 FP/image, each with a grouped 95% CI.

    Args:
        pred_boxes: per image (M_i, 4) predicted boxes, pixels.
        pred_scores: per image (M_i,) scores.
        gt_boxes: per image (G_i, 4) ground truth.
        groups: per image, the source-image group.
        n_boot: bootstrap replicates.
        seed: random seed.

    Returns:
        ``{"ap50": {...}, "image_auc": {...}, "sensitivity_at_1fp_per_image": {...}}``, each
        ``{"value", "ci95", "n", "n_groups", "ci_method"}``.
    """
    pb, ps, gt = list(pred_boxes), list(pred_scores), list(gt_boxes)
    img_score = image_level_scores(ps)
    img_truth = np.array([int(np.size(g) > 0) for g in gt])

    def ap(idx: npt.NDArray[np.int64]) -> float:
        return average_precision([pb[i] for i in idx], [ps[i] for i in idx], [gt[i] for i in idx])

    def auc(idx: npt.NDArray[np.int64]) -> float:
        y = img_truth[idx]
        if y.min() == y.max():
            raise ValueError("one class")
        return float(auc_score(y, img_score[idx]))

    def sens(idx: npt.NDArray[np.int64]) -> float:
        return sensitivity_at_fp_rate(
            [pb[i] for i in idx], [ps[i] for i in idx], [gt[i] for i in idx]
        )

    all_idx = np.arange(len(pb), dtype=np.int64)
    n_groups = len(set(groups))
    method = f"percentile bootstrap over {n_groups} source images, {n_boot} replicates"
    out: dict[str, Any] = {}
    n_gt = int(sum(np.asarray(g).reshape(-1, 4).shape[0] for g in gt))
    for key, fn, n in (
        ("ap50", ap, n_gt),
        ("image_auc", auc, len(pb)),
        ("sensitivity_at_1fp_per_image", sens, n_gt),
    ):
        out[key] = {
            "value": round(fn(all_idx), 4),
            "ci95": list(grouped_bootstrap_ci(fn, groups, n_boot=n_boot, seed=seed)),
            "n": n,
            "n_groups": n_groups,
            "ci_method": method,
        }
    out["image_auc"]["n_positive_images"] = int(img_truth.sum())
    return out
