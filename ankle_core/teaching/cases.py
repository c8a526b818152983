"""The teaching case library: labelled LMAF, SFO and no-fragment radiographs.

Every case is a synthetic phantom (``ankle_core.phantoms``): either one of the bundled
``demo_cases/`` files listed in ``labels.csv``, or one drawn on demand by
:func:`ankle_core.phantoms.make_case` and encoded as PNG. Each case says so
(:attr:`TeachingCase.provenance`). Real cases can join the library only where a licence
allows; none ships here.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "CLASSES",
    "CLASS_NAMES",
    "DIFFICULTIES",
    "SIGNS",
    "TeachingCase",
    "bundled_cases",
    "case_bytes",
    "filter_cases",
    "generated_cases",
    "teaching_library",
]

logger = logging.getLogger(__name__)

#: Class ids in display order.
CLASSES: tuple[str, ...] = ("lmaf", "sfo", "none")
#: Display names of the classes.
CLASS_NAMES: Mapping[str, str] = {
    "lmaf": "LMAF",
    "sfo": "SFO",
    "none": "No fragment",
}
#: Difficulty bins (from the model's confidence in the true class).
DIFFICULTIES: tuple[str, ...] = ("easy", "moderate", "hard")

#: The signs that tell the classes apart, shown beside every case.
SIGNS: Mapping[str, tuple[str, ...]] = {
    "sfo": (
        "Round or oval fragment",
        "Smooth outline",
        "Corticated: a continuous bright cortical rim",
        "Intact, smoothly rounded fibular tip",
    ),
    "lmaf": (
        "Irregular, angular fragment",
        "Not corticated: no continuous rim",
        "Donor-site defect: a notch in the fibular tip that matches the fragment",
    ),
    "none": (
        "No perimalleolar fragment",
        "Intact, smoothly rounded fibular tip",
    ),
}

_SYNTHETIC = "synthetic phantom"


@dataclass(frozen=True)
class TeachingCase:
    """One case of the library.

    Attributes:
        case_id: stable id, ``"demo:<relative path>"`` or ``"phantom:<kind>:<seed>:<size>:<d>"``.
        label: ``"lmaf"``, ``"sfo"`` or ``"none"`` (ground truth).
        view: ``"ap"`` or ``"mortise"``.
        provenance: where it comes from, e.g. ``"synthetic phantom (bundled demo)"``.
        synthetic: True for every phantom (all cases here).
        path: the file of a bundled case; None for a generated one.
        seed: phantom seed.
        size: image side in pixels.
        difficulty: the phantom generator's difficulty knob (0 to 1).
    """

    case_id: str
    label: str
    view: str
    provenance: str
    synthetic: bool
    path: Path | None
    seed: int
    size: int
    difficulty: float

    @property
    def title(self) -> str:
        """Short display title, e.g. ``"LMAF · mortise · case_01.dcm"``."""
        where = self.path.name if self.path is not None else f"phantom seed {self.seed}"
        return f"{CLASS_NAMES[self.label]} · {self.view} · {where}"

    @property
    def truth(self) -> int:
        """1 for an LMAF (the fracture), 0 otherwise."""
        return int(self.label == "lmaf")


def bundled_cases(root: Path) -> list[TeachingCase]:
    """The bundled phantom radiographs listed in ``root/labels.csv``.

    Args:
        root: the ``demo_cases`` folder.

    Returns:
        One case per radiograph row whose file exists, in file order; empty when there is no
        ``labels.csv``.
    """
    table = root / "labels.csv"
    if not table.is_file():
        return []
    cases = []
    with table.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("kind") != "radiograph" or row.get("label") not in CLASSES:
                continue
            path = root / row["file"]
            if not path.is_file():
                logger.warning("labels.csv lists a missing file")
                continue
            cases.append(
                TeachingCase(
                    case_id=f"demo:{row['file']}",
                    label=row["label"],
                    view=row.get("view") or "ap",
                    provenance=f"{_SYNTHETIC} (bundled demo)",
                    synthetic=True,
                    path=path,
                    seed=int(row.get("seed") or 0),
                    size=int(row.get("width") or 512),
                    difficulty=float(row.get("difficulty") or 0.3),
                )
            )
    return cases


def generated_cases(
    n_per_class: int, *, seed: int = 1000, size: int = 384, difficulty: float = 0.5
) -> list[TeachingCase]:
    """Phantom cases drawn on demand (only their recipe here; pixels come from :func:`case_bytes`).

    Args:
        n_per_class: cases per class.
        seed: first phantom seed; case ``i`` of a class uses ``seed + i``.
        size: image side in pixels.
        difficulty: generator difficulty, 0 (textbook) to 1 (blended signs).

    Returns:
        ``3 * n_per_class`` cases, classes interleaved.
    """
    from ankle_core.phantoms.radiograph import sample_radiograph_params

    cases = []
    for i in range(n_per_class):
        for kind in CLASSES:
            s = seed + i
            view = sample_radiograph_params(s, kind, size=size, difficulty=difficulty).view
            cases.append(
                TeachingCase(
                    case_id=f"phantom:{kind}:{s}:{size}:{difficulty:g}",
                    label=kind,
                    view=view,
                    provenance=f"{_SYNTHETIC} (generated)",
                    synthetic=True,
                    path=None,
                    seed=s,
                    size=size,
                    difficulty=difficulty,
                )
            )
    return cases


def teaching_library(root: Path, *, n_generated_per_class: int = 0) -> list[TeachingCase]:
    """The bundled cases followed by generated ones.

    Args:
        root: the ``demo_cases`` folder.
        n_generated_per_class: generated phantoms per class to add.

    Returns:
        The library's cases.
    """
    return bundled_cases(root) + generated_cases(n_generated_per_class)


def case_bytes(case: TeachingCase) -> bytes:
    """The case's file: the bundled file's bytes, or a generated phantom as 8-bit PNG.

    Args:
        case: a library case.

    Returns:
        DICOM, PNG or JPEG bytes that :func:`ankle_core.io.read_radiograph` reads.
    """
    if case.path is not None:
        return case.path.read_bytes()
    from ankle_core.phantoms.radiograph import make_case

    phantom = make_case(case.seed, case.label, size=case.size, difficulty=case.difficulty)
    pixels = np.asarray(phantom.radiograph.pixels, dtype=np.float64)
    buffer = io.BytesIO()
    Image.fromarray(np.rint(pixels * 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def filter_cases(
    cases: Iterable[TeachingCase],
    *,
    classes: Iterable[str] | None = None,
    views: Iterable[str] | None = None,
    difficulties: Iterable[str] | None = None,
    difficulty_of: Mapping[str, str] | None = None,
) -> list[TeachingCase]:
    """Keep the cases of the chosen classes, views and difficulties.

    Args:
        cases: library cases.
        classes: class ids to keep (None: all).
        views: views to keep (None: all).
        difficulties: difficulty bins to keep (None: all); needs ``difficulty_of``.
        difficulty_of: case id -> difficulty bin (see
            :func:`ankle_core.teaching.difficulty.difficulty_bin`); a case without an entry is
            dropped when ``difficulties`` is given.

    Returns:
        The kept cases, in their original order.
    """
    keep_c = None if classes is None else set(classes)
    keep_v = None if views is None else set(views)
    keep_d = None if difficulties is None else set(difficulties)
    known = difficulty_of or {}
    out = []
    for case in cases:
        if keep_c is not None and case.label not in keep_c:
            continue
        if keep_v is not None and case.view not in keep_v:
            continue
        if keep_d is not None and known.get(case.case_id) not in keep_d:
            continue
        out.append(case)
    return out
