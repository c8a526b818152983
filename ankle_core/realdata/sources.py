"""Where the real data sets live: ``shared/data`` beside the checkout, or ``ANKLE_REAL_DATA``.

The real data (see ``shared/data/README.md``) are not part of the repository. They are looked
for, in order, in the folder named by the environment variable ``ANKLE_REAL_DATA`` and in
``../shared/data`` relative to the repository root. Nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "ENV_VAR",
    "FRACTURE_BOXES",
    "TOTALSEG_CT",
    "find_real_data",
    "real_data_roots",
]

#: Environment variable naming the real-data folder.
ENV_VAR = "ANKLE_REAL_DATA"
#: Sub-folder of the real extremity radiographs with fracture boxes (CC BY 4.0).
FRACTURE_BOXES = "radiographs-fracture-boxes"
#: Sub-folder of TotalSegmentator's reference CT files (Apache-2.0).
TOTALSEG_CT = "ct-totalsegmentator"

_REPO_ROOT = Path(__file__).resolve().parents[2]


def real_data_roots() -> list[Path]:
    """Candidate real-data folders, in the order they are searched (may not exist)."""
    roots: list[Path] = []
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append(Path(env))
    roots.append(_REPO_ROOT.parent / "shared" / "data")
    return roots


def find_real_data(subdir: str) -> Path | None:
    """The first existing ``<root>/<subdir>`` among :func:`real_data_roots`, else None.

    Args:
        subdir: e.g. :data:`FRACTURE_BOXES` or :data:`TOTALSEG_CT`.

    Returns:
        The folder, or None when no candidate holds it.
    """
    for root in real_data_roots():
        candidate = root / subdir
        if candidate.is_dir():
            return candidate
    return None
