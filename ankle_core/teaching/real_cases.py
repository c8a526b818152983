"""The real collection of the teaching library: curated FracAtlas radiographs.

The 64 cases live in ``demo_cases/fracatlas/`` (JPEG images plus ``cases.json``: FracAtlas'
fracture boxes and polygon masks, views, implant flags and split, and this project's region,
difficulty, signs and teaching note). They are **real** radiographs under CC BY 4.0: every
place that shows one shows :data:`FRACATLAS_CREDIT`. The phantoms stay a separate collection
(:mod:`ankle_core.teaching.cases`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ankle_core.errors import InvalidInputError

__all__ = [
    "FRACATLAS_CREDIT",
    "REAL_DIFFICULTIES",
    "REAL_REGIONS",
    "REAL_VIEWS",
    "RealCase",
    "RealFracture",
    "filter_real_cases",
    "real_cases",
]

logger = logging.getLogger(__name__)

#: The credit line shown beside every FracAtlas image, in every export that shows one.
FRACATLAS_CREDIT = (
    "Image: FracAtlas (Abedeen et al., Scientific Data 10:521, 2023; "
    "doi 10.6084/m9.figshare.22363012), CC BY 4.0; lower-limb subset, "
    "long side capped at 1280 px."
)
#: Views FracAtlas marks.
REAL_VIEWS: tuple[str, ...] = ("frontal", "lateral", "oblique")
#: Regions labelled by this project.
REAL_REGIONS: tuple[str, ...] = ("ankle", "foot", "distal_leg")
#: Difficulty labels of the curated set (``normal``: no fracture).
REAL_DIFFICULTIES: tuple[str, ...] = ("normal", "subtle", "obvious")


@dataclass(frozen=True)
class RealFracture:
    """One annotated fracture of a real case (FracAtlas' COCO annotation).

    Attributes:
        box: ``(x0, y0, x1, y1)`` in pixels of the bundled image.
        polygons: the mask's polygons, each ``(x0, y0, x1, y1, ...)`` in pixels.
    """

    box: tuple[float, float, float, float]
    polygons: tuple[tuple[float, ...], ...]

    def contains(self, x: float, y: float) -> bool:
        """Whether the pixel point ``(x, y)`` lies inside the box (edges included)."""
        x0, y0, x1, y1 = self.box
        return x0 <= x <= x1 and y0 <= y <= y1


@dataclass(frozen=True)
class RealCase:
    """One real radiograph of the library.

    Attributes:
        case_id: ``"fracatlas:<image id>"``.
        image_id: FracAtlas' file name, e.g. ``"IMG0003803.jpg"``.
        path: the bundled JPEG.
        fractured: FracAtlas' ground truth.
        region: ``"ankle"``, ``"foot"`` or ``"distal_leg"``.
        difficulty: ``"normal"``, ``"subtle"`` or ``"obvious"``.
        views: FracAtlas' views (one or more of :data:`REAL_VIEWS`).
        hardware: orthopaedic implants present.
        multiscan: several views in one image.
        split: FracAtlas' split (``"train"``/``"valid"``) of a fractured image, else None.
        width: image width in pixels.
        height: image height in pixels.
        signs: the radiographic signs named in the note.
        note: the teaching note (written by the developers, not a radiologist's report).
        fractures: annotated fractures (empty when not fractured).
    """

    case_id: str
    image_id: str
    path: Path
    fractured: bool
    region: str
    difficulty: str
    views: tuple[str, ...]
    hardware: bool
    multiscan: bool
    split: str | None
    width: int
    height: int
    signs: tuple[str, ...]
    note: str
    fractures: tuple[RealFracture, ...]

    @property
    def truth(self) -> int:
        """1 when fractured, else 0."""
        return int(self.fractured)

    @property
    def view_text(self) -> str:
        """The views joined, e.g. ``"frontal + lateral"``."""
        return " + ".join(self.views) or "unknown view"

    @property
    def title(self) -> str:
        """Short display title, e.g. ``"Ankle · frontal · fracture · IMG0003803.jpg"``."""
        region = self.region.replace("_", " ").capitalize()
        what = "fracture" if self.fractured else "no fracture"
        return f"{region} · {self.view_text} · {what} · {self.image_id}"

    def click_hits(self, x: float, y: float) -> bool:
        """Whether a click at pixel ``(x, y)`` lies inside any true fracture box."""
        return any(f.contains(x, y) for f in self.fractures)


def _case(entry: dict[str, Any], root: Path) -> RealCase:
    fractures = tuple(
        RealFracture(
            box=(
                float(f["box_xyxy"][0]),
                float(f["box_xyxy"][1]),
                float(f["box_xyxy"][2]),
                float(f["box_xyxy"][3]),
            ),
            polygons=tuple(tuple(float(v) for v in poly) for poly in f["polygons"]),
        )
        for f in entry.get("fractures", [])
    )
    image_id = str(entry["image_id"])
    return RealCase(
        case_id=f"fracatlas:{image_id}",
        image_id=image_id,
        path=root / "images" / image_id,
        fractured=bool(entry["fractured"]),
        region=str(entry["region"]),
        difficulty=str(entry["difficulty"]),
        views=tuple(str(v) for v in entry["views"]),
        hardware=bool(entry["hardware"]),
        multiscan=bool(entry.get("multiscan", 0)),
        split=entry.get("fracatlas_split"),
        width=int(entry["width"]),
        height=int(entry["height"]),
        signs=tuple(str(s) for s in entry["signs"]),
        note=str(entry["note"]),
        fractures=fractures,
    )


def real_cases(root: Path) -> list[RealCase]:
    """The bundled real cases listed in ``root/cases.json`` whose image exists.

    Args:
        root: the ``demo_cases/fracatlas`` folder.

    Returns:
        The cases in file order; empty when there is no ``cases.json``.

    Raises:
        InvalidInputError: when ``cases.json`` is not the expected JSON.
    """
    table = root / "cases.json"
    if not table.is_file():
        logger.info("no real teaching cases under %s", root.name)
        return []
    try:
        doc = json.loads(table.read_text(encoding="utf-8"))
        entries = doc["cases"]
        cases = [_case(e, root) for e in entries]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidInputError(f"The real case list is malformed: {exc}") from exc
    kept = [c for c in cases if c.path.is_file()]
    if len(kept) < len(cases):
        logger.warning("%d real cases have no image file", len(cases) - len(kept))
    return kept


def filter_real_cases(
    cases: Iterable[RealCase],
    *,
    views: Iterable[str] | None = None,
    fractured: bool | None = None,
    regions: Iterable[str] | None = None,
    implants: bool | None = None,
) -> list[RealCase]:
    """Keep the cases that match every filter given.

    Args:
        cases: real cases.
        views: keep a case showing any of these views (None: all).
        fractured: True for fractured only, False for non-fractured only, None for both.
        regions: regions to keep (None: all).
        implants: True for cases with implants only, False without, None for both.

    Returns:
        The kept cases, in their original order.
    """
    keep_v = None if views is None else set(views)
    keep_r = None if regions is None else set(regions)
    out = []
    for case in cases:
        if keep_v is not None and not keep_v.intersection(case.views):
            continue
        if fractured is not None and case.fractured != fractured:
            continue
        if keep_r is not None and case.region not in keep_r:
            continue
        if implants is not None and case.hardware != implants:
            continue
        out.append(case)
    return out
