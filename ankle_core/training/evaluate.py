"""Evaluation of the radiograph models: AP@0.5 and recall for boxes, AUC and thresholds.

- Detection: each predicted box (by score, descending) matches the unmatched ground-truth
  box of highest IoU >= ``iou``; AP is the area under the all-point interpolated
  precision-recall curve (PASCAL VOC 2010+), over all images pooled.
- Classification: AUC with a 95% CI and the operating points come from
  :mod:`ankle_core.stats` (stratified bootstrap, DeLong; thresholds chosen on validation).
- :func:`evaluate_on_phantoms`: the figures the demo model cards report, on fresh phantom
  cases whose seeds lie outside the training set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ankle_core.models.card import OperatingPoints
from ankle_core.stats.detection import average_precision, match_detections
from ankle_core.stats.metrics import wilson_interval

__all__ = [
    "auc_with_ci",
    "average_precision",
    "card_ci95",
    "classifier_operating_points",
    "detection_recall",
    "detection_threshold",
    "evaluate_on_phantoms",
    "match_detections",
    "phantom_cases",
]

FloatArray = npt.NDArray[np.float64]


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
    """Detection score thresholds chosen on validation data, favouring recall.

    A missed fragment is never classified, so the pipeline's threshold (``default``) is the
    largest score that keeps validation recall at IoU ``iou`` within 95% of the best recall
    the detector reaches at any threshold. ``high_sensitivity`` is the largest threshold
    reaching that best recall; ``high_specificity`` the F1-maximising one (or ``default``
    if lower). The pipeline keeps boxes scoring >= ``default``.
    """
    scores, tp, n_gt = match_detections(pred_boxes, pred_scores, gt_boxes, iou)
    if scores.size == 0 or n_gt == 0 or not tp.any():
        return OperatingPoints(0.5, 0.5, 0.5, "validation (no matched detections)")
    order = np.argsort(-scores, kind="stable")
    s, tp = scores[order], tp[order]
    ctp = np.cumsum(tp)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, s.size + 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best_recall = float(recall.max())
    default = float(s[int(np.argmax(recall >= 0.95 * best_recall - 1e-12))])
    high_sens = float(s[int(np.argmax(recall >= best_recall - 1e-12))])
    high_spec = max(float(s[int(np.argmax(f1))]), default)
    return OperatingPoints(
        default=default,
        high_sensitivity=min(high_sens, default),
        high_specificity=high_spec,
        chosen_on=(
            f"validation split, {n_gt} boxes (recall within 95% of its best, "
            f"{best_recall:.3f}, at IoU {iou})"
        ),
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
    default = clip(youden.value)
    # On separable validation data the rule-in threshold can fall below Youden's; the
    # three bands then widen to hold the default (never a rule-in below the default).
    return OperatingPoints(
        default=default,
        high_sensitivity=min(low, high, default),
        high_specificity=max(high, default),
        chosen_on=chosen_on,
    )


def phantom_cases(
    n: int, *, seed_start: int, size: int, difficulty: tuple[float, float]
) -> list[Any]:
    """Fresh phantom cases: seeds ``seed_start ..``; kinds LMAF/SFO/none 42/42/16 %.

    The kind and difficulty (uniform in ``difficulty``) of each case come from
    ``np.random.default_rng(seed_start)``, the same recipe as the demo training set.
    """
    from ankle_core.phantoms import make_case

    rng = np.random.default_rng(seed_start)
    kinds = ("lmaf", "sfo", "none")
    cases = []
    for i in range(n):
        kind = kinds[int(rng.choice(3, p=[0.42, 0.42, 0.16]))]
        diff = float(rng.uniform(*difficulty))
        cases.append(make_case(seed_start + i, kind, size=size, difficulty=diff))
    return cases


def evaluate_on_phantoms(
    detector: Any,
    classifiers: Sequence[Any],
    cases: Sequence[Any],
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """Detection recall and classifier AUCs of loaded models on phantom cases.

    - Detector: recall at IoU 0.5 of the boxes scoring >= its card's default threshold
      (Wilson 95% CI), AP@0.5, and how many fragment-free cases got a box.
    - Each classifier: AUC (bootstrap 95% CI) on crops at the ground-truth boxes (stage 2
      alone), and the two-stage case-level AUC over the LMAF and SFO cases
      (``case_p_lmaf`` of the pipeline), counting a case without a kept fragment as 0, and
      among the cases where a fragment was found.
    - With two or more classifiers: the paired DeLong test of the first against each other.

    Args:
        detector: a loaded detector (``LoadedModel``).
        classifiers: loaded classifiers.
        cases: ``RadiographCase`` objects (e.g. from :func:`phantom_cases`).
        seed: bootstrap seed.

    Returns:
        ``{"detector": {...}, "<classifier name>": {...}, "comparisons": [...]}``.
    """
    from ankle_core.inference.radiograph import RadiographPipeline
    from ankle_core.stats.delong import delong_test

    pipes = [RadiographPipeline(detector, clf) for clf in classifiers]
    gt = [np.array([b.as_xyxy() for b in c.boxes], np.float64).reshape(-1, 4) for c in cases]
    boxes, scores, kept_boxes = [], [], []
    for case in cases:
        dets = pipes[0].detect(case.radiograph)
        boxes.append(dets.boxes)
        scores.append(dets.scores)
        kept_boxes.append([box for _, box in pipes[0].kept_fragments(dets)])
    thr = pipes[0].detection_threshold
    found, total = detection_recall(boxes, scores, gt, thr)
    none_cases = [i for i, c in enumerate(cases) if not c.boxes]
    false_pos = sum(int((scores[i] >= thr).any()) for i in none_cases)
    out: dict[str, Any] = {
        "detector": {
            "recall_iou50": {
                "value": round(found / max(1, total), 4),
                "ci95": card_ci95(found, total),
                "n": total,
                "threshold": round(thr, 4),
            },
            "ap50": {"value": round(average_precision(boxes, scores, gt), 4), "n": total},
            "fragment_free_cases_with_a_box": {"value": false_pos, "n": len(none_cases)},
        }
    }
    labelled_idx = [i for i, c in enumerate(cases) if c.label in ("lmaf", "sfo") and c.boxes]
    labelled = [cases[i] for i in labelled_idx]
    y = np.array([1 if c.label == "lmaf" else 0 for c in labelled])
    stage2: list[np.ndarray] = []
    for pipe in pipes:
        p_gt = np.array([pipe.classify(c.radiograph.pixels, [c.boxes[0]])[0] for c in labelled])
        case_p = []
        for i in labelled_idx:  # the pipeline's case rule: max p_lmaf over kept boxes
            probs = pipe.classify(cases[i].radiograph.pixels, kept_boxes[i])
            case_p.append(float(probs.max()) if probs.size else 0.0)
        stage2.append(p_gt)
        found_mask = np.array([len(kept_boxes[i]) > 0 for i in labelled_idx])
        entry: dict[str, Any] = {
            "auc_at_true_boxes": auc_with_ci(y, p_gt, seed=seed),
            "two_stage_case_auc_missed_as_0": auc_with_ci(y, np.array(case_p), seed=seed),
            "cases_with_a_fragment_found": {
                "lmaf": f"{int(found_mask[y == 1].sum())}/{int((y == 1).sum())}",
                "sfo": f"{int(found_mask[y == 0].sum())}/{int((y == 0).sum())}",
            },
        }
        if len(set(y[found_mask].tolist())) == 2:
            entry["two_stage_case_auc_found_only"] = auc_with_ci(
                y[found_mask], np.array(case_p)[found_mask], seed=seed
            )
        out[pipe.classifier.card.name] = entry
    comparisons = []
    for k in range(1, len(pipes)):
        test = delong_test(y, stage2[0], stage2[k])
        comparisons.append(
            {
                "a": pipes[0].classifier.card.name,
                "b": pipes[k].classifier.card.name,
                "auc_difference": round(test.difference, 4),
                "ci95": [round(test.ci_low, 4), round(test.ci_high, 4)],
                "p_value": round(test.p_value, 4),
                "method": "paired DeLong, AUC at true boxes",
            }
        )
    out["comparisons"] = comparisons
    return out


def card_ci95(successes: int, total: int) -> list[float] | None:
    """A proportion's 95% Wilson interval as a model card writes it.

    The interval itself is :func:`ankle_core.stats.metrics.wilson_interval` (the one
    rule); this only rounds it to 4 decimals and writes ``None`` when ``total`` is 0,
    because an empty count has no interval and JSON has no NaN.

    Args:
        successes: Count k, 0 <= k <= n.
        total: Count n.

    Returns:
        ``[low, high]`` rounded to 4 decimals, or ``None`` when ``total`` is 0.

    Example:
        >>> card_ci95(8, 10)
        [0.4902, 0.9433]
        >>> card_ci95(0, 0) is None
        True
    """
    if total <= 0:
        return None
    return [round(v, 4) for v in wilson_interval(successes, total)]
