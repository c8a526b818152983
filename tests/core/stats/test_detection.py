"""Detection metrics: matching, AP at two IoUs, recall at k FP/image, top-k, grouped CIs."""

from __future__ import annotations

import numpy as np
import pytest

from ankle_core.stats.detection import (
    average_precision,
    box_iou,
    detection_report,
    found_in_top_k,
    grouped_bootstrap_ci,
    recall_at_fp_per_image,
)


def test_recall_at_fp_per_image_counts_every_image() -> None:
    gt = [np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10]]), np.zeros((0, 4))]
    boxes = [
        np.array([[0, 0, 10, 10], [50, 50, 60, 60]]),
        np.array([[50, 50, 60, 60], [0, 0, 10, 10]]),
        np.array([[5, 5, 9, 9]]),
    ]
    scores = [np.array([0.9, 0.8]), np.array([0.7, 0.2]), np.array([0.6])]
    # by score: TP .9, FP .8, FP .7, FP .6, TP .2; 3 images: 1 FP/image allows 3 FPs
    assert recall_at_fp_per_image(boxes, scores, gt, 1.0) == pytest.approx(1.0)
    assert recall_at_fp_per_image(boxes, scores, gt, 2 / 3) == pytest.approx(0.5)
    assert recall_at_fp_per_image(boxes, scores, gt, 0.0) == pytest.approx(0.5)


def test_ap_depends_on_the_iou_threshold() -> None:
    gt = [np.array([[0, 0, 10, 10]])]
    pred = [np.array([[4, 0, 14, 10]])]  # IoU 6/14 = 0.43
    assert box_iou(gt[0], pred[0])[0, 0] == pytest.approx(6 / 14)
    assert average_precision(pred, [np.array([0.9])], gt, iou=0.5) == 0.0
    assert average_precision(pred, [np.array([0.9])], gt, iou=0.3) == pytest.approx(1.0)


def test_found_in_top_k_only_looks_at_the_k_best() -> None:
    gt = [np.array([[0, 0, 10, 10], [100, 100, 110, 110]])]
    pred = [np.array([[50, 50, 60, 60], [0, 0, 10, 10], [100, 100, 110, 110]])]
    scores = [np.array([0.9, 0.8, 0.1])]
    assert found_in_top_k(pred, scores, gt, k=2) == (1, 2)
    assert found_in_top_k(pred, scores, gt, k=3) == (2, 2)


def test_grouped_bootstrap_resamples_groups() -> None:
    groups = ["a", "a", "a", "b"]
    seen: list[int] = []

    def stat(idx: np.ndarray) -> float:
        seen.append(int(np.sum(idx < 3)))
        return float(len(idx))

    grouped_bootstrap_ci(stat, groups, n_boot=50, rng=np.random.default_rng(1))
    assert set(seen) <= {0, 3, 6}  # the three copies of "a" always travel together


def test_report_has_every_figure_with_a_ci() -> None:
    rng = np.random.default_rng(0)
    gt = [np.array([[10, 10, 30, 30]]) if i % 2 else np.zeros((0, 4)) for i in range(20)]
    boxes = [np.array([[10, 10, 30, 30]]) for _ in range(20)]
    scores = [np.array([0.8 if i % 2 else 0.3]) + rng.normal(0, 0.01) for i in range(20)]
    rep = detection_report(boxes, scores, gt, [str(i // 2) for i in range(20)], n_boot=100)
    assert rep["image_auc"]["value"] == 1.0 and rep["ap50"]["value"] == 1.0
    assert rep["ap30"]["value"] == 1.0
    assert rep["recall_at_1fp_iou05"]["value"] == 1.0
    assert rep["found_top5_iou03"]["found"] == 10
    for key in ("ap50", "ap30", "image_auc", "recall_at_2fp_iou05", "found_top5_iou03"):
        lo, hi = rep[key]["ci95"]
        assert lo <= rep[key]["value"] <= hi
