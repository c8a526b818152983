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
from ankle_core.training.retinanet_localiser import split_by_source


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
