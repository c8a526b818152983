"""Export phantom data sets as real files, with ``labels.csv`` and ``annotations.json``.

``python -m ankle_core.phantoms export --out DIR --n N --kind radiograph|ct [--seed S]
[--size PX] [--difficulty D]`` writes N cases; ``--demo`` writes the bundled demo set
(:func:`export_demo`) instead. Everything is deterministic given the arguments.

Radiographs cycle through :data:`RADIOGRAPH_VARIANTS` (DICOM DX/CR, MONOCHROME1 or 2,
uncompressed or RLE / JPEG-LS / JPEG 2000 lossless, 12/14/16 bits stored; 8- and 16-bit
PNG), in an order shuffled by the seed, so any 7 consecutive cases hold every variant. CT
volumes alternate between NIfTI (``.nii.gz``) and a DICOM series folder.

``labels.csv`` has one row per file: ``file`` (relative path), ``patient_id`` (group id for
splits), ``label`` (radiograph: lmaf/sfo/none; CT: 1/0), ``kind`` (radiograph/ct),
``seed`` (``make_case(seed, label)`` or ``make_volume(seed, fractured)`` rebuilds it),
``view``, ``difficulty``, ``fractured`` (CT), ``format``, ``photometric``,
``compression``, ``bits_stored``, ``laterality``, ``width``, ``height``, ``n_boxes`` and,
for CT, the fracture box ``z0 y0 x0 z1 y1 x1`` (voxel indices, upper bounds exclusive).

``annotations.json`` is COCO: ``images``, ``annotations`` (``bbox`` = [x, y, w, h] in
pixels), ``categories`` (1 ``lmaf``, 2 ``sfo``), plus a ``volumes`` list for CT with
``bbox3d`` = [z0, y0, x0, z1, y1, x1] (voxels, upper bounds exclusive) or null.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ankle_core.phantoms.ct import make_volume
from ankle_core.phantoms.radiograph import KINDS, RadiographCase, make_case
from ankle_core.phantoms.writers import (
    write_ct_nifti,
    write_ct_series,
    write_radiograph_dicom,
    write_radiograph_png,
)
from ankle_core.types import Volume

__all__ = [
    "CATEGORIES",
    "LABEL_COLUMNS",
    "RADIOGRAPH_VARIANTS",
    "Annotations",
    "Variant",
    "export_dataset",
    "export_radiographs",
    "export_volumes",
    "radiograph_row",
    "volume_row",
    "write_radiograph_variant",
    "write_tables",
]

logger = logging.getLogger(__name__)

CATEGORIES = ({"id": 1, "name": "lmaf"}, {"id": 2, "name": "sfo"})
_CATEGORY_ID = {c["name"]: c["id"] for c in CATEGORIES}
LABEL_COLUMNS = (
    "file",
    "patient_id",
    "label",
    "kind",
    "seed",
    "view",
    "difficulty",
    "fractured",
    "format",
    "photometric",
    "compression",
    "bits_stored",
    "laterality",
    "width",
    "height",
    "n_boxes",
    "fracture_bone",
    "z0",
    "y0",
    "x0",
    "z1",
    "y1",
    "x1",
)


@dataclass(frozen=True)
class Variant:
    """How one radiograph is written.

    Attributes:
        container: ``"dicom"`` or ``"png"``.
        bits: bits stored (DICOM 8..16) or PNG bit depth (8 or 16).
        modality: ``"DX"`` or ``"CR"`` (DICOM only).
        monochrome1: store inverted (DICOM only).
        compression: ``"none"``, ``"rle"``, ``"jpegls"`` or ``"j2k"`` (DICOM only).
    """

    container: str
    bits: int
    modality: str = "DX"
    monochrome1: bool = False
    compression: str = "none"


RADIOGRAPH_VARIANTS = (
    Variant("dicom", 12, "DX"),
    Variant("dicom", 12, "CR", monochrome1=True),
    Variant("dicom", 16, "DX", compression="rle"),
    Variant("dicom", 12, "CR", monochrome1=True, compression="jpegls"),
    Variant("dicom", 14, "DX", compression="j2k"),
    Variant("png", 8),
    Variant("png", 16),
)


def write_radiograph_variant(
    out: Path, stem: str, case: RadiographCase, number: int, v: Variant
) -> Path:
    """Write ``case`` as ``out/<stem>.dcm`` or ``.png`` per the variant; returns the path."""
    if v.container == "png":
        return write_radiograph_png(out / f"{stem}.png", case, bits=v.bits)
    return write_radiograph_dicom(
        out / f"{stem}.dcm",
        case,
        number=number,
        modality=v.modality,
        bits_stored=v.bits,
        monochrome1=v.monochrome1,
        compression=v.compression,
    )


def radiograph_row(
    root: Path, path: Path, case: RadiographCase, number: int, v: Variant, difficulty: float
) -> dict[str, Any]:
    """The ``labels.csv`` row of a radiograph written at ``path`` (relative to ``root``)."""
    h, w = case.radiograph.shape
    return {
        "file": path.relative_to(root).as_posix(),
        "patient_id": f"PHANTOM-{number}",
        "label": case.label,
        "kind": "radiograph",
        "seed": case.seed,
        "view": case.view,
        "difficulty": difficulty,
        "format": v.container,
        "photometric": "MONOCHROME1" if v.monochrome1 else "MONOCHROME2",
        "compression": v.compression if v.container == "dicom" else "png",
        "bits_stored": v.bits,
        "laterality": case.params["laterality"],
        "width": w,
        "height": h,
        "n_boxes": len(case.boxes),
    }


def volume_row(
    root: Path, path: Path, vol: Volume, number: int, fmt: str, difficulty: float
) -> dict[str, Any]:
    """The ``labels.csv`` row of a CT volume written at ``path`` (relative to ``root``)."""
    box = vol.metadata["fracture_box"]
    fractured = bool(vol.metadata["fractured"])
    row: dict[str, Any] = {
        "file": path.relative_to(root).as_posix(),
        "patient_id": f"PHANTOM-{number}",
        "label": int(fractured),
        "kind": "ct",
        "seed": vol.metadata["seed"],
        "view": "axial",
        "difficulty": difficulty,
        "fractured": fractured,
        "format": fmt,
        "photometric": "MONOCHROME2",
        "compression": "gzip" if fmt == "nifti" else "none",
        "bits_stored": 16,
        "laterality": vol.metadata["laterality"],
        "width": vol.shape[2],
        "height": vol.shape[1],
        "n_boxes": int(box is not None),
        "fracture_bone": vol.metadata["fracture_bone"] or "",
    }
    for key, value in zip(("z0", "y0", "x0", "z1", "y1", "x1"), box or ("",) * 6, strict=True):
        row[key] = value
    return row


class Annotations:
    """Accumulates ``annotations.json``: COCO images and annotations, and the CT volumes."""

    def __init__(self, seed: int | None) -> None:
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.volumes: list[dict[str, Any]] = []
        self.seed = seed

    def add_radiograph(self, file: str, case: RadiographCase, patient_id: str) -> None:
        """Add one image and its boxes (COCO ``bbox`` = [x, y, w, h], pixels)."""
        image_id = len(self.images) + 1
        h, w = case.radiograph.shape
        self.images.append(
            {
                "id": image_id,
                "file_name": file,
                "width": w,
                "height": h,
                "label": case.label,
                "patient_id": patient_id,
                "pixel_spacing_mm": list(case.radiograph.pixel_spacing_mm or ()),
            }
        )
        for box in case.boxes:
            self.annotations.append(
                {
                    "id": len(self.annotations) + 1,
                    "image_id": image_id,
                    "category_id": _CATEGORY_ID[case.label],
                    "bbox": [box.x0, box.y0, box.width, box.height],
                    "area": box.area,
                    "iscrowd": 0,
                }
            )

    def add_volume(self, file: str, vol: Volume, patient_id: str) -> None:
        """Add one CT volume and its fracture box (``bbox3d``, voxels, or None)."""
        box = vol.metadata["fracture_box"]
        self.volumes.append(
            {
                "id": len(self.volumes) + 1,
                "file_name": file,
                "patient_id": patient_id,
                "shape": list(vol.shape),
                "spacing_mm": list(vol.spacing_mm),
                "fractured": bool(vol.metadata["fractured"]),
                "fracture_bone": vol.metadata["fracture_bone"],
                "bbox3d": list(box) if box is not None else None,
            }
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON document."""
        return {
            "info": {
                "description": "Synthetic ankle phantoms (ankle_core.phantoms); not patients.",
                "version": "1",
                "seed": self.seed,
            },
            "images": self.images,
            "annotations": self.annotations,
            "categories": [dict(c) for c in CATEGORIES],
            "volumes": self.volumes,
        }


def _case_seeds(seed: int, stream: int, n: int) -> list[int]:
    rng = np.random.default_rng([seed, stream])
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=n)]


def _cycle_order(rng: np.random.Generator, n: int, period: int) -> list[int]:
    order: list[int] = []
    while len(order) < n:
        order.extend(int(i) for i in rng.permutation(period))
    return order[:n]


def export_radiographs(
    out: Path,
    n: int,
    *,
    seed: int = 0,
    size: int = 512,
    difficulty: float = 0.5,
    first_number: int = 1,
    subdir: str = "radiographs",
    annotations: Annotations | None = None,
) -> list[dict[str, Any]]:
    """Write ``n`` phantom radiographs under ``out/subdir`` in a seeded mix of formats.

    Args:
        out: data set root (created if needed).
        n: number of cases (kinds balanced: lmaf, sfo, none in a seeded order).
        seed: export seed (case seeds and the format mix derive from it).
        size: image side in pixels.
        difficulty: phantom difficulty, 0 to 1.
        first_number: patient number of the first case.
        subdir: folder for the images, relative to ``out``.
        annotations: accumulator for ``annotations.json``, or None.

    Returns:
        One ``labels.csv`` row (a dict) per file.
    """
    folder = out / subdir
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0])
    kinds = [KINDS[i] for i in _cycle_order(rng, n, len(KINDS))]
    variants = [RADIOGRAPH_VARIANTS[i] for i in _cycle_order(rng, n, len(RADIOGRAPH_VARIANTS))]
    rows: list[dict[str, Any]] = []
    for i, case_seed in enumerate(_case_seeds(seed, 1, n)):
        number = first_number + i
        case = make_case(case_seed, kinds[i], size=size, difficulty=difficulty)
        path = write_radiograph_variant(folder, f"case_{number:04d}", case, number, variants[i])
        row = radiograph_row(out, path, case, number, variants[i], difficulty)
        rows.append(row)
        if annotations is not None:
            annotations.add_radiograph(row["file"], case, row["patient_id"])
    return rows


def export_volumes(
    out: Path,
    n: int,
    *,
    seed: int = 0,
    shape: tuple[int, int, int] = (48, 128, 128),
    spacing_mm: tuple[float, float, float] = (2.0, 0.8, 0.8),
    difficulty: float = 0.5,
    first_number: int = 1,
    subdir: str = "volumes",
    formats: Sequence[str] | None = None,
    annotations: Annotations | None = None,
    paired: bool = False,
) -> list[dict[str, Any]]:
    """Write ``n`` phantom CT volumes under ``out/subdir`` (NIfTI and DICOM series).

    Args:
        out: data set root (created if needed).
        n: number of volumes (fractured and intact balanced, in a seeded order).
        seed: export seed.
        shape: (z, y, x) voxels of each volume.
        spacing_mm: (z, y, x) spacing, mm.
        difficulty: phantom difficulty, 0 to 1.
        first_number: patient number of the first volume.
        subdir: folder for the volumes, relative to ``out``.
        formats: per-volume ``"nifti"`` or ``"dicom-series"``; alternating when None.
        annotations: accumulator for ``annotations.json``, or None.
        paired: write counterfactual pairs instead: ``n // 2`` seeds, each drawn once with
            its fracture and once without (same anatomy, pose and noise), both under one
            ``patient_id`` so that grouped splits keep a pair together; each pair's
            difficulty is drawn uniformly from ``[0, difficulty]``. ``n`` must be even.

    Returns:
        One ``labels.csv`` row (a dict) per volume.
    """
    if paired:
        return _export_volume_pairs(
            out, n, seed, shape, spacing_mm, difficulty, first_number, subdir, annotations
        )
    folder = out / subdir
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 2])
    fractured = [bool(i) for i in _cycle_order(rng, n, 2)]
    fmts = (
        list(formats)
        if formats is not None
        else [("nifti", "dicom-series")[i % 2] for i in range(n)]
    )
    rows: list[dict[str, Any]] = []
    for i, case_seed in enumerate(_case_seeds(seed, 3, n)):
        number = first_number + i
        vol = make_volume(
            case_seed, fractured[i], shape=shape, spacing_mm=spacing_mm, difficulty=difficulty
        )
        if fmts[i] == "nifti":
            path = write_ct_nifti(folder / f"ct_{number:04d}.nii.gz", vol)
        else:
            path = write_ct_series(folder / f"ct_{number:04d}", vol, number=number)
        row = volume_row(out, path, vol, number, fmts[i], difficulty)
        rows.append(row)
        if annotations is not None:
            annotations.add_volume(row["file"], vol, row["patient_id"])
    return rows


def _export_volume_pairs(
    out: Path,
    n: int,
    seed: int,
    shape: tuple[int, int, int],
    spacing_mm: tuple[float, float, float],
    difficulty: float,
    first_number: int,
    subdir: str,
    annotations: Annotations | None,
) -> list[dict[str, Any]]:
    """:func:`export_volumes` with ``paired=True``: NIfTI files ``ct_NNNN_{fx,nofx}``."""
    if n < 2 or n % 2:
        raise ValueError(f"paired export needs an even n of at least 2, got {n}.")
    folder = out / subdir
    folder.mkdir(parents=True, exist_ok=True)
    levels = np.random.default_rng([seed, 4]).uniform(0.0, difficulty, size=n // 2)
    rows: list[dict[str, Any]] = []
    for i, case_seed in enumerate(_case_seeds(seed, 3, n // 2)):
        number = first_number + i
        level = round(float(levels[i]), 4)
        for fractured, tag in ((True, "fx"), (False, "nofx")):
            vol = make_volume(
                case_seed, fractured, shape=shape, spacing_mm=spacing_mm, difficulty=level
            )
            path = write_ct_nifti(folder / f"ct_{number:04d}_{tag}.nii.gz", vol)
            row = volume_row(out, path, vol, number, "nifti", level)
            rows.append(row)
            if annotations is not None:
                annotations.add_volume(row["file"], vol, row["patient_id"])
    return rows


def write_tables(out: Path, rows: list[dict[str, Any]], annotations: Annotations) -> None:
    """Write ``out/labels.csv`` (columns :data:`LABEL_COLUMNS`) and ``out/annotations.json``."""
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=LABEL_COLUMNS, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    text = json.dumps(annotations.as_dict(), indent=1)
    (out / "annotations.json").write_text(text + "\n", encoding="utf-8")


def export_dataset(
    out: Path,
    n: int,
    kind: str,
    *,
    seed: int = 0,
    size: int | None = None,
    difficulty: float = 0.5,
    paired: bool = False,
) -> list[dict[str, Any]]:
    """Write a radiograph or CT data set with its ``labels.csv`` and ``annotations.json``.

    Args:
        out: data set root.
        n: number of cases.
        kind: ``"radiograph"`` or ``"ct"``.
        seed: export seed.
        size: radiograph side in pixels (default 512), or CT in-plane size (default 128;
            the field of view is kept, so the spacing scales).
        difficulty: phantom difficulty, 0 to 1 (with ``paired``, the top of the range).
        paired: CT only: counterfactual pairs (see :func:`export_volumes`).

    Returns:
        The ``labels.csv`` rows.

    Raises:
        ValueError: an unknown ``kind``, ``n < 1``, ``paired`` with radiographs, or an odd
            ``n`` with ``paired``.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    out.mkdir(parents=True, exist_ok=True)
    ann = Annotations(seed)
    if paired and kind != "ct":
        raise ValueError("paired export is for CT phantoms only.")
    if kind == "radiograph":
        rows = export_radiographs(
            out, n, seed=seed, size=size or 512, difficulty=difficulty, annotations=ann
        )
    elif kind == "ct":
        px = size or 128
        spacing = (2.0, 0.8 * 128 / px, 0.8 * 128 / px)
        rows = export_volumes(
            out,
            n,
            seed=seed,
            shape=(48, px, px),
            spacing_mm=spacing,
            difficulty=difficulty,
            annotations=ann,
            paired=paired,
        )
    else:
        raise ValueError(f"kind must be 'radiograph' or 'ct', got {kind!r}.")
    write_tables(out, rows, ann)
    logger.info("Wrote %d %s phantoms to %s", n, kind, out)
    return rows
