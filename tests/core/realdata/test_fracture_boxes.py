"""YOLO fracture-box reader, source grouping and the training-folder writer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ankle_core.errors import InvalidInputError
from ankle_core.realdata.fracture_boxes import (
    parse_yolo_labels,
    read_fracture_boxes,
    source_group,
    write_training_folder,
)
from ankle_core.realdata.metrics import (
    grouped_bootstrap_ci,
    localiser_report,
    sensitivity_at_fp_rate,
)
from ankle_core.realdata.train_localiser import split_by_source


def test_source_group() -> None:
    assert source_group("101.rf.3f14e38b.jpg") == "101"
    assert source_group("100_jpg.rf.408c.jpg") == "100_jpg"
    assert source_group("plain.jpg") == "plain"


def test_parse_keeps_fracture_only_and_converts_to_pixels() -> None:
    lines = ["0 0.5 0.5 0.2 0.2", "1 0.5 0.25 0.2 0.1", "", "1 0.99 0.5 0.1 0.1"]
    boxes = parse_yolo_labels(lines, width=200, height=100)
    assert len(boxes) == 2
    b = boxes[0]
    assert (b.x0, b.y0, b.x1, b.y1) == pytest.approx((80.0, 20.0, 120.0, 30.0))
    assert boxes[1].x1 == pytest.approx(200.0)  # clipped to the image
    with pytest.raises(InvalidInputError):
        parse_yolo_labels(["1 0.5 0.5"], 10, 10)


def _fake_set(root: Path) -> None:
    sets = {"train": ["a.rf.1", "a.rf.2", "b.rf.1", "c.rf.1"], "valid": ["c.rf.9", "d.rf.1"]}
    for split, names in sets.items():
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for n in names:
            Image.fromarray(np.zeros((50, 80), np.uint8)).save(root / split / "images" / f"{n}.jpg")
            label = "1 0.5 0.5 0.25 0.2\n2 0.1 0.1 0.1 0.1" if n.startswith(("a", "c")) else ""
            (root / split / "labels" / f"{n}.txt").write_text(label)


def test_reader_groups_and_split_never_straddles(tmp_path: Path) -> None:
    _fake_set(tmp_path)
    images = read_fracture_boxes(tmp_path)
    assert len(images) == 6 and images[0].width == 80 and images[0].height == 50
    assert [len(im.boxes) for im in images if im.group == "a"] == [1, 1]
    train, val = split_by_source(images)
    assert {im.group for im in train} & {im.group for im in val} == set()
    assert {im.group for im in train} == {"a", "b"}  # "c" also in valid/ -> left out of train
    out = write_training_folder(images, tmp_path / "coco")
    coco = json.loads((out / "annotations.json").read_text())
    assert len(coco["images"]) == 6 and len(coco["annotations"]) == 4
    assert coco["annotations"][0]["bbox"] == pytest.approx([30.0, 20.0, 20.0, 10.0])
    with (out / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["patient_id"] for r in rows} == {"a", "b", "c", "d"}
    assert all((out / r["file"]).is_file() for r in rows)


def test_sensitivity_at_one_fp_per_image() -> None:
    gt = [np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10]]), np.zeros((0, 4))]
    boxes = [
        np.array([[0, 0, 10, 10], [50, 50, 60, 60]]),
        np.array([[50, 50, 60, 60], [0, 0, 10, 10]]),
        np.array([[5, 5, 9, 9]]),
    ]
    scores = [np.array([0.9, 0.8]), np.array([0.7, 0.2]), np.array([0.6])]
    # by score: TP .9, FP .8, FP .7, FP .6, TP .2; 3 images: 1 FP/image allows 3 FPs
    assert sensitivity_at_fp_rate(boxes, scores, gt, 1.0) == pytest.approx(1.0)
    assert sensitivity_at_fp_rate(boxes, scores, gt, 2 / 3) == pytest.approx(0.5)
    assert sensitivity_at_fp_rate(boxes, scores, gt, 0.0) == pytest.approx(0.5)


def test_grouped_bootstrap_resamples_groups() -> None:
    groups = ["a", "a", "a", "b"]
    seen: list[int] = []

    def stat(idx: np.ndarray) -> float:
        seen.append(int(np.sum(idx < 3)))
        return float(len(idx))

    grouped_bootstrap_ci(stat, groups, n_boot=50, seed=1)
    assert set(seen) <= {0, 3, 6}  # the three copies of "a" always travel together


def test_report_has_the_three_metrics_with_cis() -> None:
    rng = np.random.default_rng(0)
    gt = [np.array([[10, 10, 30, 30]]) if i % 2 else np.zeros((0, 4)) for i in range(20)]
    boxes = [np.array([[10, 10, 30, 30]]) for _ in range(20)]
    scores = [np.array([0.8 if i % 2 else 0.3]) + rng.normal(0, 0.01) for i in range(20)]
    rep = localiser_report(boxes, scores, gt, [str(i // 2) for i in range(20)], n_boot=100)
    assert rep["image_auc"]["value"] == 1.0 and rep["ap50"]["value"] == 1.0
    assert rep["sensitivity_at_1fp_per_image"]["value"] == 1.0
    assert rep["ap50"]["n_groups"] == 10 and len(rep["image_auc"]["ci95"]) == 2
