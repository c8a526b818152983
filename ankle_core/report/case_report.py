"""The content of a one-page case report, independent of how it is laid out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from ankle_core.errors import InvalidInputError

__all__ = ["REPORT_DISCLAIMER", "CaseReport"]

REPORT_DISCLAIMER = (
    "Research use only; demo models trained on synthetic phantoms. Not a medical device and "
    "not for clinical decisions. Every finding must be confirmed by a qualified reader."
)


@dataclass(frozen=True)
class CaseReport:
    """What one page reports about one case.

    Attributes:
        title: e.g. ``"Ankle radiograph: perimalleolar fragment analysis"``.
        image_rgb: (H, W, 3) uint8, the image with boxes and overlay already drawn.
        summary: the case-level finding in one line (e.g. ``"Case call: LMAF (p = 0.91)"``).
        columns: header of the findings table.
        rows: one row of cell texts per finding (same length as ``columns``).
        models: ``"name version"`` of every model card involved.
        details: extra key-value facts (input hash, reader settings, timings).
        disclaimer: printed at the foot of the page.
        created_at: UTC time of the report.
    """

    title: str
    image_rgb: npt.NDArray[np.uint8]
    summary: str
    columns: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = ()
    models: Sequence[str] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    disclaimer: str = REPORT_DISCLAIMER
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        image = np.asarray(self.image_rgb)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        if image.ndim != 3 or image.shape[-1] != 3 or image.size == 0:
            raise InvalidInputError(f"A report image must be (H, W, 3), got {image.shape}.")
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        object.__setattr__(self, "image_rgb", image)
        if any(len(row) != len(self.columns) for row in self.rows):
            raise InvalidInputError("Every findings row needs one cell per column.")
