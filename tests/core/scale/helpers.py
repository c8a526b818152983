"""Reading predictions CSVs for comparison: the timing columns are dropped."""

from __future__ import annotations

import csv
from pathlib import Path

TIMING = {"total_s", "preprocess_s", "forward_s", "gradcam_s", "boxes_s"}


def predictions(path: Path) -> list[dict[str, str]]:
    """The CSV's rows without their timings, in file order."""
    with path.open(newline="", encoding="utf-8") as fh:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(fh)]
