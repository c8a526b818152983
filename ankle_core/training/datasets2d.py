"""Radiograph training data: the phantom exporter's formats, detector and classifier datasets.

A training folder holds images (DICOM or PNG, read with ``ankle_core.io.read_radiograph``)
plus either:

- ``annotations.json`` (COCO: ``images`` with ``id`` and ``file_name``, ``annotations`` with
  ``image_id``, ``bbox`` [x, y, w, h] in pixels and ``category_id``; categories named
  ``lmaf`` and ``sfo``), optionally with ``labels.csv`` giving each file's ``patient_id``; or
- ``labels.csv`` alone, with columns ``file``, ``patient_id``, ``label`` (lmaf, sfo, none)
  and box columns ``x0, y0, x1, y1`` (empty for ``none``).

Images are read once and kept in memory at the size training needs (the detector's long
side; a context patch per fragment for the classifier). The recipes train from
:meth:`DetectorData.item` and :meth:`ClassifierData.example` through a ``DataLoader``
(:mod:`ankle_core.training.loaders`); ``batches`` serves evaluation.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from scipy import ndimage

from ankle_core.errors import InvalidInputError
from ankle_core.preprocess.crops import crop_with_context, to_channels
from ankle_core.training.augment2d import AugmentConfig, augment_image
from ankle_core.types import Box2D

__all__ = [
    "ClassifierData",
    "DetectorData",
    "Sample",
    "load_samples",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)
LABELS = ("sfo", "lmaf")  # classifier output order: index 1 = LMAF


@dataclass(frozen=True)
class Sample:
    """One annotated radiograph.

    Attributes:
        path: image file.
        patient_id: grouping key for splits (never logged).
        label: ``"lmaf"``, ``"sfo"`` or ``"none"``.
        boxes: fragment boxes in pixels of the file's image.
    """

    path: Path
    patient_id: str
    label: str
    boxes: tuple[Box2D, ...]


def _read_labels_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_samples(data_dir: str | Path) -> list[Sample]:
    """Read the annotations of a training folder (see the module docstring).

    Args:
        data_dir: the folder.

    Returns:
        One :class:`Sample` per image, in file-name order.

    Raises:
        InvalidInputError: neither ``annotations.json`` nor a usable ``labels.csv``.
    """
    root = Path(data_dir)
    coco_path, csv_path = root / "annotations.json", root / "labels.csv"
    rows = {r["file"]: r for r in _read_labels_csv(csv_path)} if csv_path.is_file() else {}
    samples: list[Sample] = []
    if coco_path.is_file():
        coco = json.loads(coco_path.read_text(encoding="utf-8"))
        cats = {int(c["id"]): str(c["name"]).lower() for c in coco.get("categories", [])}
        per_image: dict[int, list[tuple[Box2D, str]]] = {}
        for ann in coco.get("annotations", []):
            x, y, w, h = (float(v) for v in ann["bbox"])
            if w <= 0 or h <= 0:
                continue
            per_image.setdefault(int(ann["image_id"]), []).append(
                (Box2D(x, y, x + w, y + h), cats.get(int(ann["category_id"]), "fragment"))
            )
        for img in coco.get("images", []):
            name = str(img["file_name"])
            anns = per_image.get(int(img["id"]), [])
            row = rows.get(name, {})
            label = row.get("label") or (anns[0][1] if anns else "none")
            patient = row.get("patient_id") or str(img.get("patient_id", name))
            samples.append(Sample(root / name, patient, label.lower(), tuple(b for b, _ in anns)))
    elif rows:
        for name, row in rows.items():
            boxes: tuple[Box2D, ...] = ()
            if row.get("x0") not in (None, ""):
                boxes = (Box2D(*(float(row[k]) for k in ("x0", "y0", "x1", "y1"))),)
            samples.append(Sample(root / name, row["patient_id"], row["label"].lower(), boxes))
    else:
        raise InvalidInputError(
            f"The training folder {root.name} has neither annotations.json nor labels.csv."
        )
    if not samples:
        raise InvalidInputError(f"The training folder {root.name} lists no images.")
    return sorted(samples, key=lambda s: s.path.name)


def _read_pixels(path: Path) -> FloatArray:
    from ankle_core.io import read_radiograph

    pixels: FloatArray = np.asarray(read_radiograph(path).pixels, dtype=np.float32)
    return pixels


def _resize_long_side(img: FloatArray, long_side: int) -> tuple[FloatArray, float]:
    scale = long_side / max(img.shape)
    if abs(scale - 1.0) < 1e-6:
        return img, 1.0
    if scale < 1:
        img = ndimage.gaussian_filter(img, sigma=0.5 / scale - 0.5)
    out = ndimage.zoom(img, scale, order=1, grid_mode=True, mode="nearest")
    return np.clip(out, 0, 1).astype(np.float32), scale


class DetectorData:
    """Whole radiographs resized to the detector's long side, with fragment boxes.

    Args:
        samples: the annotated images.
        long_side: the detector's input long side, pixels.
        augment: augmentation ranges, or None for evaluation data.
        crop_size: when set (training), each draw is a random ``crop_size`` square of the
            augmented image, holding a fragment 80% of the time: a cheaper step at the
            same scale (the detector is fully convolutional).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        long_side: int,
        augment: AugmentConfig | None,
        crop_size: int | None = None,
    ) -> None:
        self.samples = list(samples)
        self.augment = augment
        self.crop_size = crop_size
        self.images: list[npt.NDArray[np.float16]] = []
        self.boxes: list[FloatArray] = []
        for s in self.samples:
            img, scale = _resize_long_side(_read_pixels(s.path), long_side)
            self.images.append(img.astype(np.float16))
            b = np.array([bx.as_xyxy() for bx in s.boxes], np.float32).reshape(-1, 4) * scale
            self.boxes.append(b)

    def __len__(self) -> int:
        return len(self.samples)

    def item(
        self, i: int, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Image (3, h, w) in [0, 1] and its RetinaNet target (``boxes``, ``labels`` = 1)."""
        img, boxes = self.images[i].astype(np.float32), self.boxes[i]
        if self.augment is not None and rng is not None:
            img, boxes = augment_image(img, boxes, rng, self.augment)
            if self.crop_size is not None:
                img, boxes = _random_crop(img, boxes, self.crop_size, rng)
        t = torch.from_numpy(np.ascontiguousarray(img))[None].expand(3, -1, -1)
        target = {
            "boxes": torch.from_numpy(boxes.reshape(-1, 4).copy()),
            "labels": torch.ones(boxes.shape[0], dtype=torch.int64),
        }
        return t, target

    def batches(
        self, batch_size: int, rng: np.random.Generator | None
    ) -> Iterator[tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]]:
        """Shuffled (when ``rng``) batches of :meth:`item`."""
        order = rng.permutation(len(self)) if rng is not None else np.arange(len(self))
        for start in range(0, len(order), batch_size):
            items = [self.item(int(i), rng) for i in order[start : start + batch_size]]
            yield [x for x, _ in items], [t for _, t in items]


class ClassifierData:
    """Fragment crops (LMAF = 1, SFO = 0) around ground-truth boxes, jittered in training.

    A context patch ``pad`` times larger than the classifier's window is cut once per
    fragment; each training draw rotates, flips, zooms and shifts it (so the box is
    jittered) and takes the central window, which is what :func:`crop_with_context` gives
    at inference. ``pad`` grows with the widest zoom-out of ``augment`` so that a zoomed-out
    draw still shows real context rather than black.

    Args:
        samples: annotated images; those without a box or with label ``none`` are skipped.
        input_size: crop side in pixels.
        margin: context margin (fraction of the box's longer side on each side).
        channel_mode: ``"grey3"`` or ``"grey_inv_edge"``.
        augment: augmentation ranges, or None for evaluation data.
        extra_boxes: optional extra crops per sample path: ``(box, label)`` with label 1
            (LMAF) or 0 (not LMAF), e.g. the detector's own boxes labelled by the true box
            they match (see ``ankle_core.training.radiograph_cli``). Samples of label
            ``none`` contribute their extra boxes too.
    """

    pad = 1.6

    def __init__(
        self,
        samples: Sequence[Sample],
        input_size: int,
        margin: float,
        channel_mode: str,
        augment: AugmentConfig | None,
        extra_boxes: Mapping[Path, Sequence[tuple[Box2D, int]]] | None = None,
    ) -> None:
        self.input_size = input_size
        self.margin = margin
        self.channel_mode = channel_mode
        self.augment = augment
        if augment is not None:
            self.pad = max(self.pad, 1.0 / min(augment.zoom_range) + 2 * augment.max_shift_frac)
        self.patches: list[npt.NDArray[np.float16]] = []
        self.labels: list[int] = []
        self.groups: list[str] = []
        self.from_detector: list[bool] = []
        big = math.ceil(input_size * self.pad)
        extra = extra_boxes or {}
        for s in samples:
            own = [(b, LABELS.index(s.label), False) for b in s.boxes] if s.label in LABELS else []
            more = [(b, int(y), True) for b, y in extra.get(s.path, ())]
            if not own and not more:
                continue
            pixels = _read_pixels(s.path)
            for box, label, det in own + more:
                grown = _grow(box, self.pad)
                patch, _ = crop_with_context(pixels, grown, margin=margin, out_size=big)
                self.patches.append(patch.astype(np.float16))
                self.labels.append(label)
                self.groups.append(s.patient_id)
                self.from_detector.append(det)

    def __len__(self) -> int:
        return len(self.labels)

    def item(self, i: int, rng: np.random.Generator | None = None) -> FloatArray:
        """Normalised (3, S, S) crop of fragment ``i``."""
        patch = self.patches[i].astype(np.float32)
        if self.augment is not None and rng is not None:
            patch, _ = augment_image(patch, np.zeros((0, 4)), rng, self.augment)
        big = patch.shape[0]
        lo = (big - self.input_size) // 2
        crop = patch[lo : lo + self.input_size, lo : lo + self.input_size]
        x = to_channels(crop, self.channel_mode)
        out: FloatArray = (x - _IMAGENET_MEAN) / _IMAGENET_STD
        return out

    def example(self, i: int, rng: np.random.Generator | None = None) -> tuple[FloatArray, int]:
        """Fragment ``i``'s crop (:meth:`item`) and its label (1 = LMAF): one training item."""
        return self.item(i, rng), int(self.labels[i])

    def tensor(
        self, indices: Sequence[int] | npt.NDArray[np.int64], rng: np.random.Generator | None
    ) -> torch.Tensor:
        """A batch (N, 3, S, S) of :meth:`item`."""
        return torch.from_numpy(np.stack([self.item(int(i), rng) for i in indices]))

    def batches(
        self, batch_size: int, rng: np.random.Generator | None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled (when ``rng``) batches of (crops, labels)."""
        order = rng.permutation(len(self)) if rng is not None else np.arange(len(self))
        y = np.asarray(self.labels, np.int64)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield self.tensor(idx, rng), torch.from_numpy(y[idx])


def _random_crop(
    img: FloatArray, boxes: FloatArray, size: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """A ``size`` square crop, around a random box 80% of the time; boxes kept when over
    half their area stays inside."""
    h, w = img.shape
    ch, cw = min(size, h), min(size, w)
    if boxes.shape[0] and rng.random() < 0.8:
        b = boxes[int(rng.integers(boxes.shape[0]))]
        lo_x, hi_x = max(0, int(b[2]) - cw), min(w - cw, int(b[0]))
        lo_y, hi_y = max(0, int(b[3]) - ch), min(h - ch, int(b[1]))
        x0 = int(rng.integers(min(lo_x, hi_x), max(lo_x, hi_x) + 1))
        y0 = int(rng.integers(min(lo_y, hi_y), max(lo_y, hi_y) + 1))
    else:
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    out = img[y0 : y0 + ch, x0 : x0 + cw]
    if boxes.shape[0] == 0:
        return out, boxes
    nb = boxes - np.array([x0, y0, x0, y0], np.float32)
    area = (nb[:, 2] - nb[:, 0]) * (nb[:, 3] - nb[:, 1])
    nb[:, [0, 2]] = nb[:, [0, 2]].clip(0, cw)
    nb[:, [1, 3]] = nb[:, [1, 3]].clip(0, ch)
    kept = (nb[:, 2] - nb[:, 0]).clip(0) * (nb[:, 3] - nb[:, 1]).clip(0)
    return out, nb[kept > 0.5 * area].astype(np.float32)


def _grow(box: Box2D, factor: float) -> Box2D:
    cx, cy = box.center
    side = max(box.width, box.height) * factor
    return Box2D(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
