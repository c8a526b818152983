"""Reader for the lower-limb subset of FracAtlas (leg, knee, ankle and foot radiographs).

FracAtlas (Abedeen et al., *Scientific Data* 10:521, 2023; doi 10.1038/s41597-023-02432-4;
CC BY 4.0) as kept in ``shared/data/fracatlas-leg``: ``images/*.jpg``, ``dataset.csv`` (one
row per image: views, implants, FracAtlas' own split of fractured images, size) and
``annotations.json`` (COCO: one box and one polygon per fracture, pixels of the images here).
The subset has no patient identifier; images are keyed by file name. Pixels are not decoded
here.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ankle_core.errors import InvalidInputError
from ankle_core.types import Box2D

__all__ = [
    "FRACATLAS",
    "FRACATLAS_CREDIT",
    "FracAtlasImage",
    "read_fracatlas",
    "validation_split",
    "view_of",
]

logger = logging.getLogger(__name__)

#: Sub-folder of the real-data root holding the lower-limb FracAtlas subset.
FRACATLAS = "fracatlas-leg"
#: Attribution the CC BY 4.0 licence requires wherever FracAtlas or a model trained on it is used.
FRACATLAS_CREDIT = (
    "FracAtlas (Abedeen et al., Scientific Data 10:521, 2023; doi 10.1038/s41597-023-02432-4), "
    "CC BY 4.0; lower-limb images only, large images downscaled to 1280 px"
)


@dataclass(frozen=True)
class FracAtlasImage:
    """One FracAtlas radiograph.

    Attributes:
        path: the JPEG file.
        fractured: FracAtlas' ground truth (its folder), True for a fractured limb.
        boxes: fracture boxes (x0, y0, x1, y1), pixels of the file's image.
        views: the views FracAtlas marks, among ``"frontal"``, ``"lateral"``, ``"oblique"``.
        hardware: orthopaedic implants visible.
        split: FracAtlas' own split of fractured images (``"train"``/``"valid"``), ``""`` for
            non-fractured images.
    """

    path: Path
    fractured: bool
    boxes: tuple[Box2D, ...]
    views: tuple[str, ...]
    hardware: bool
    split: str

    @property
    def name(self) -> str:
        """The file name (the image's only identifier)."""
        return self.path.name


def view_of(image: FracAtlasImage) -> str:
    """One stratum per image: the single view, ``"multi"`` for several, ``"none"`` for none."""
    if len(image.views) == 1:
        return image.views[0]
    return "multi" if image.views else "none"


def read_fracatlas(root: str | Path) -> list[FracAtlasImage]:
    """Read the subset's table and boxes (images whose file is missing or marked unreadable
    are skipped, with a log line).

    Args:
        root: the ``fracatlas-leg`` folder.

    Returns:
        Images sorted by file name.

    Raises:
        InvalidInputError: ``dataset.csv`` or ``annotations.json`` is missing or malformed.
    """
    base = Path(root)
    table, coco = base / "dataset.csv", base / "annotations.json"
    if not table.is_file() or not coco.is_file():
        raise InvalidInputError(f"{base} lacks dataset.csv or annotations.json (FracAtlas).")
    try:
        ann = json.loads(coco.read_text(encoding="utf-8"))
        names = {int(im["id"]): str(im["file_name"]) for im in ann["images"]}
        boxes: dict[str, list[Box2D]] = {}
        for a in ann["annotations"]:
            x, y, w, h = (float(v) for v in a["bbox"])
            if w > 0 and h > 0:
                boxes.setdefault(names[int(a["image_id"])], []).append(Box2D(x, y, x + w, y + h))
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"annotations.json is not the expected COCO file ({exc})."
        ) from None
    out: list[FracAtlasImage] = []
    skipped = 0
    with table.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                name = row["image_id"]
                path = base / "images" / name
                if row.get("readable", "1").strip() == "0" or not path.is_file():
                    skipped += 1
                    continue
                views = tuple(v for v in ("frontal", "lateral", "oblique") if row[v] == "1")
                fractured = row["fractured"] == "1"
                out.append(
                    FracAtlasImage(
                        path=path,
                        fractured=fractured,
                        boxes=tuple(boxes.get(name, ())) if fractured else (),
                        views=views,
                        hardware=row["hardware"] == "1",
                        split=row["fracatlas_split"].strip(),
                    )
                )
            except KeyError as exc:
                raise InvalidInputError(f"dataset.csv lacks the column {exc}.") from None
    if skipped:
        logger.info("skipped %d unreadable or missing FracAtlas images", skipped)
    return sorted(out, key=lambda im: im.name)


def validation_split(
    images: Sequence[FracAtlasImage], negative_fraction: float = 0.15, seed: int = 0
) -> tuple[list[FracAtlasImage], list[FracAtlasImage]]:
    """FracAtlas' ``valid`` fractured images plus a view-stratified sample of non-fractured ones.

    Args:
        images: from :func:`read_fracatlas`.
        negative_fraction: share of non-fractured images held back, per view stratum.
        seed: seed of the sample (record it with the model).

    Returns:
        ``(train, validation)``, each sorted by file name.
    """
    rng = np.random.default_rng(seed)
    held: set[str] = {im.name for im in images if im.fractured and im.split == "valid"}
    strata: dict[str, list[str]] = {}
    for im in images:
        if not im.fractured:
            strata.setdefault(view_of(im), []).append(im.name)
    for key in sorted(strata):
        names = sorted(strata[key])
        k = round(negative_fraction * len(names))
        held.update(str(n) for n in rng.choice(names, size=k, replace=False))
    train = [im for im in images if im.name not in held]
    val = [im for im in images if im.name in held]
    return train, val
