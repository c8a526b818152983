"""Reader for the YOLO-format fracture-box radiographs, grouped by source image.

The data set (``radiographs-fracture-boxes``: "Science Research 2022: Bone Fracture
Detection", v7, Roboflow Universe, science-research workspace, CC BY 4.0) has
``<split>/images/*.jpg`` and ``<split>/labels/*.txt`` with one ``class cx cy w h`` line per
box, normalised to [0, 1]. Class 1 (``fracture``) is the clinically meaningful box; the other
classes are the annotators' auxiliary marks and are dropped. Each training image appears
three times as augmented copies: the file-name part before ``.rf.`` names the source image
and is the grouping key for splits and bootstrap resampling.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ankle_core.errors import InvalidInputError
from ankle_core.types import Box2D

__all__ = [
    "DATASET_CREDIT",
    "FRACTURE_CLASS",
    "FractureImage",
    "parse_yolo_labels",
    "read_fracture_boxes",
    "source_group",
    "write_training_folder",
]

logger = logging.getLogger(__name__)

#: YOLO class index of ``fracture`` in ``data.yaml``.
FRACTURE_CLASS = 1
#: Attribution the CC BY 4.0 licence requires wherever the data or a model trained on it is used.
DATASET_CREDIT = (
    '"Science Research 2022: Bone Fracture Detection", version 7, Roboflow Universe, '
    "science-research workspace, CC BY 4.0"
)


@dataclass(frozen=True)
class FractureImage:
    """One radiograph of the fracture-box set.

    Attributes:
        path: the JPEG file.
        split: the folder it came from (``train`` or ``valid``).
        group: source-image key (file name before ``.rf.``), prefixed by the split when the
            same prefix could name different sources (see :func:`read_fracture_boxes`).
        width: image width, pixels.
        height: image height, pixels.
        boxes: fracture boxes (class 1 only) in pixels of the file's image.
    """

    path: Path
    split: str
    group: str
    width: int
    height: int
    boxes: tuple[Box2D, ...]


def source_group(file_name: str) -> str:
    """The source-image key of a file name: the part before ``.rf.`` (the whole stem if none).

    >>> source_group("101.rf.3f14e38b35adf994668b5a62462e4e15.jpg")
    '101'
    """
    name = Path(file_name).name
    return name.split(".rf.", 1)[0] if ".rf." in name else Path(name).stem


def parse_yolo_labels(
    lines: Iterable[str], width: int, height: int, classes: Sequence[int] = (FRACTURE_CLASS,)
) -> tuple[Box2D, ...]:
    """YOLO ``class cx cy w h`` lines (normalised) to pixel boxes of the chosen classes.

    Args:
        lines: label-file lines; blank lines are skipped.
        width: image width, pixels.
        height: image height, pixels.
        classes: class indices kept.

    Returns:
        Boxes (x0, y0, x1, y1) in pixels, clipped to the image; degenerate boxes dropped.

    Raises:
        InvalidInputError: a line that is not five numbers.
    """
    out: list[Box2D] = []
    for n, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise InvalidInputError(f"Label line {n} does not have five fields.")
        try:
            cls = int(float(parts[0]))
            cx, cy, w, h = (float(v) for v in parts[1:])
        except ValueError:
            raise InvalidInputError(f"Label line {n} is not numeric.") from None
        if cls not in classes:
            continue
        x0 = max(0.0, (cx - w / 2) * width)
        y0 = max(0.0, (cy - h / 2) * height)
        x1 = min(float(width), (cx + w / 2) * width)
        y1 = min(float(height), (cy + h / 2) * height)
        if x1 > x0 and y1 > y0:
            out.append(Box2D(x0, y0, x1, y1))
    return tuple(out)


def read_fracture_boxes(
    root: str | Path, splits: Sequence[str] = ("train", "valid")
) -> list[FractureImage]:
    """Read every image's size and fracture boxes (pixels are not decoded).

    The same ``.rf.`` prefix occurs in both ``train`` and ``valid`` for a few names; since
    it cannot be told whether they are the same source, the group key is shared across
    splits (the conservative choice: such images always land on the same side of a split).

    Args:
        root: the ``radiographs-fracture-boxes`` folder.
        splits: sub-folders to read.

    Returns:
        Images sorted by split then file name.

    Raises:
        InvalidInputError: the folder lacks ``<split>/images``.
    """
    base = Path(root)
    out: list[FractureImage] = []
    for split in splits:
        img_dir, lab_dir = base / split / "images", base / split / "labels"
        if not img_dir.is_dir():
            raise InvalidInputError(f"{base.name} has no {split}/images folder.")
        for path in sorted(img_dir.glob("*.jpg")):
            with Image.open(path) as im:
                width, height = im.size
            label = lab_dir / f"{path.stem}.txt"
            lines = label.read_text(encoding="utf-8").splitlines() if label.is_file() else []
            boxes = parse_yolo_labels(lines, width, height)
            out.append(FractureImage(path, split, source_group(path.name), width, height, boxes))
    logger.info("read %d fracture-box images", len(out))
    return out


def write_training_folder(images: Sequence[FractureImage], out_dir: str | Path) -> Path:
    """Write the COCO ``annotations.json`` + ``labels.csv`` the training CLI reads.

    Images are symlinked (copied where links fail) into ``out_dir``; ``patient_id`` is the
    source group, so grouped splits keep augmented copies together. The category is named
    ``fracture`` and each image's ``label`` is ``fracture`` or ``none``.

    Args:
        images: from :func:`read_fracture_boxes`.
        out_dir: folder to create or fill.

    Returns:
        ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    coco_images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    rows: list[dict[str, str]] = []
    for i, im in enumerate(images, start=1):
        name = f"{im.split}__{im.path.name}"
        link = out / name
        if not link.exists():
            try:
                link.symlink_to(im.path.resolve())
            except OSError:
                link.write_bytes(im.path.read_bytes())
        coco_images.append({"id": i, "file_name": name, "width": im.width, "height": im.height})
        for b in im.boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": 1,
                    "bbox": [b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0],
                }
            )
        rows.append(
            {"file": name, "patient_id": im.group, "label": "fracture" if im.boxes else "none"}
        )
    coco = {
        "images": coco_images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "fracture"}],
    }
    (out / "annotations.json").write_text(json.dumps(coco), encoding="utf-8")
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "patient_id", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return out
