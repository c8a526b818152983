"""Real demo cases: the RG3 ankle radiograph and the TotalSegmentator CT, credited.

Each :class:`RealDemoCase` has a title, a kind (``"radiograph"`` or ``"ct"``), a credit
line and a loader. Sources are never downloaded: RG3 comes from the installed
``pydicom-data`` package (``get_testdata_file(..., download=False)``), the CT from
``example_ct.nii.gz`` in the shared real-data folder (:mod:`ankle_core.realdata.sources`).
A missing source makes :meth:`RealDemoCase.load` raise :class:`FileNotFoundError` with a
message saying what to install or where to put the file; :meth:`RealDemoCase.available`
tells beforehand without raising.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ankle_core.realdata.sources import TOTALSEG_CT, find_real_data
from ankle_core.types import Radiograph, Volume

__all__ = [
    "REAL_DEMO_CASES",
    "RealDemoCase",
    "available_real_demos",
    "real_demo",
    "rg3_path",
    "totalseg_ct_path",
]

logger = logging.getLogger(__name__)


def rg3_path() -> Path | None:
    """Path of ``RG3_UNCR.dcm`` inside the installed ``pydicom-data``, or None."""
    try:
        from pydicom.data import get_testdata_file

        found = get_testdata_file("RG3_UNCR.dcm", download=False)
    except Exception:  # pydicom raises various errors when the data package is absent
        logger.debug("pydicom-data lookup failed", exc_info=True)
        return None
    if not found:
        return None
    path = Path(str(found))
    return path if path.is_file() else None


def totalseg_ct_path() -> Path | None:
    """Path of TotalSegmentator's ``example_ct.nii.gz`` in the shared data, or None."""
    folder = find_real_data(TOTALSEG_CT)
    if folder is None:
        return None
    path = folder / "example_ct.nii.gz"
    return path if path.is_file() else None


@dataclass(frozen=True)
class RealDemoCase:
    """A bundled real image for the dashboard's demo picker.

    Attributes:
        key: stable identifier (``"real-rg3"``, ``"real-ct-totalseg"``).
        kind: ``"radiograph"`` or ``"ct"``.
        title: what the picker shows.
        description: one or two plain sentences on what the image is and is not.
        credit: attribution line the licence requires (show it beside the image).
        missing_hint: what to do when the source is absent.
        locate: returns the source path, or None when absent.
    """

    key: str
    kind: str
    title: str
    description: str
    credit: str
    missing_hint: str
    locate: Callable[[], Path | None]

    def available(self) -> bool:
        """Whether the source file is present (nothing is read)."""
        return self.locate() is not None

    def load(self) -> Radiograph | Volume:
        """Read the case with ``ankle_core.io`` (a Radiograph or a Volume by ``kind``).

        Raises:
            FileNotFoundError: the source is absent; the message says how to get it.
        """
        from ankle_core.io import read_radiograph, read_volume

        path = self.locate()
        if path is None:
            raise FileNotFoundError(f"{self.title} is not available: {self.missing_hint}")
        if self.kind == "radiograph":
            return read_radiograph(path)
        return read_volume(path)


REAL_DEMO_CASES: tuple[RealDemoCase, ...] = (
    RealDemoCase(
        key="real-rg3",
        kind="radiograph",
        title="Real radiograph: AP distal tibia/ankle (RG3, CR)",
        description=(
            "A real computed-radiography AP view of a right distal tibia and ankle "
            "(MONOCHROME1, 1760 x 1760, no pixel spacing). No fracture label is known: the "
            "models' output on it is not validated."
        ),
        credit="NEMA WG04 test images, via the pydicom-data package (MIT).",
        missing_hint="install the pinned pydicom-data package (requirements-dev.txt).",
        locate=rg3_path,
    ),
    RealDemoCase(
        key="real-ct-totalseg",
        kind="ct",
        title="Real CT: abdomen/pelvis with hips (TotalSegmentator example)",
        description=(
            "A real CT, 122 x 101 x 112 voxels at 3 mm, HU. It shows the pelvis and hips, "
            "not an ankle: the CT model's output on it only shows the pipeline running on "
            "real data."
        ),
        credit="TotalSegmentator test files (wasserth/TotalSegmentator), Apache-2.0.",
        missing_hint=(
            "put example_ct.nii.gz under shared/data/ct-totalsegmentator beside the checkout, "
            "or set ANKLE_REAL_DATA to a folder holding ct-totalsegmentator/."
        ),
        locate=totalseg_ct_path,
    ),
)


def available_real_demos(kind: str | None = None) -> list[RealDemoCase]:
    """The real demo cases whose sources are present, optionally of one ``kind``."""
    return [c for c in REAL_DEMO_CASES if c.available() and (kind is None or c.kind == kind)]


def real_demo(key: str) -> RealDemoCase:
    """The real demo case with this ``key``.

    Raises:
        KeyError: unknown key (the message lists the valid ones).
    """
    for case in REAL_DEMO_CASES:
        if case.key == key:
            return case
    raise KeyError(
        f"No real demo case {key!r}; known: {', '.join(c.key for c in REAL_DEMO_CASES)}."
    )
