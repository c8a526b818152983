"""Build the report of one radiograph case from the pipeline's result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ankle_core.explain.overlay import draw_boxes, overlay_heatmap
from ankle_core.report.case_report import CaseReport

if TYPE_CHECKING:
    from ankle_core.inference.localiser import LocaliserResult
    from ankle_core.inference.radiograph import RadiographResult
    from ankle_core.types import Radiograph

__all__ = ["CALL_COLOURS", "FRACTURE_BOX_COLOUR", "radiograph_report"]

#: RGB colour of a box by its call; other calls (indeterminate) are amber.
CALL_COLOURS: Mapping[str, tuple[int, int, int]] = {"LMAF": (228, 87, 46), "SFO": (46, 134, 222)}
_AMBER = (246, 166, 9)
#: Colour of the fracture localiser's boxes (numbered F1, F2...).
FRACTURE_BOX_COLOUR = (255, 160, 0)


def radiograph_report(
    radiograph: Radiograph,
    result: RadiographResult,
    saliency: npt.NDArray[np.float32] | None,
    *,
    overlay_alpha: float = 0.4,
    details: Mapping[str, Any] | None = None,
    localiser: LocaliserResult | None = None,
) -> CaseReport:
    """Compose the one-page report of a radiograph case.

    Args:
        radiograph: the image (pixels (H, W) in [0, 1]).
        result: the pipeline's result (fragments in pixels of ``radiograph``).
        saliency: (H, W) Grad-CAM in [0, 1], or None for no overlay.
        overlay_alpha: overlay opacity in [0, 1].
        details: extra facts (input sha256, reader settings...).
        localiser: the fracture localiser's result on the same image: its call comes first
            in the summary, its boxes are drawn and listed as F1, F2..., and its training
            data's credit is printed.

    Returns:
        The report content; render it with :func:`ankle_core.report.render_pdf`.
    """
    if saliency is not None and overlay_alpha > 0:
        rgb = overlay_heatmap(radiograph.pixels, saliency, alpha=overlay_alpha)
    else:
        rgb = (np.repeat(radiograph.pixels[..., None], 3, axis=-1) * 255).astype(np.uint8)
    withheld = not result.domain.in_domain
    frags = () if withheld else result.fragments
    rgb = draw_boxes(
        rgb,
        [f.box for f in frags],
        [str(i) for i in range(1, len(frags) + 1)],
        [CALL_COLOURS.get(f.call, _AMBER) for f in frags],
    )
    rows = [
        (
            str(i),
            f"{f.box.x0:.0f}, {f.box.y0:.0f}, {f.box.x1:.0f}, {f.box.y1:.0f}",
            f"{f.detection_score:.2f}",
            f"{f.p_lmaf:.2f}",
            f.call,
        )
        for i, f in enumerate(frags, start=1)
    ]
    p = result.case_p_lmaf
    summary = f"Case call: {result.case_call}" + (f" (p(LMAF) = {p:.2f})" if p is not None else "")
    if withheld:
        raw = "no fragment" if p is None else f"p(LMAF) = {p:.2f}"
        summary = (
            f"No call - outside the models' training domain. {result.domain.reason} "
            f"Raw output, not a finding: {result.raw_case_call}, {raw}."
        )
    models = [f"Detector: {result.detector}", f"Classifier: {result.classifier}"]
    facts = dict(details or {})
    if localiser is not None:
        found = localiser.boxes
        rgb = draw_boxes(
            rgb,
            [f.box for f in found],
            [f"F{i}" for i in range(1, len(found) + 1)],
            [FRACTURE_BOX_COLOUR] * len(found),
        )
        rows = [
            (
                f"F{i}",
                f"{f.box.x0:.0f}, {f.box.y0:.0f}, {f.box.x1:.0f}, {f.box.y1:.0f}",
                f"{f.score:.2f}",
                "-",
                "fracture box",
            )
            for i, f in enumerate(found, start=1)
        ] + rows
        call = "fracture suspected" if localiser.fracture_call else "no fracture found"
        summary = (
            f"Lower-limb fracture model: {call} (image score {localiser.image_score:.2f}, "
            f"operating point {localiser.image_threshold:.2f}). Fragment analysis: {summary}"
        )
        models.insert(0, f"Fracture localiser: {localiser.model}")
        if localiser.credit:
            facts["Fracture model training data"] = localiser.credit
    return CaseReport(
        title="Ankle radiograph: fracture and perimalleolar fragment analysis"
        if localiser is not None
        else "Ankle radiograph: perimalleolar fragment analysis",
        image_rgb=rgb,
        summary=summary,
        columns=("#", "Box x0, y0, x1, y1 (px)", "Detection", "p(LMAF)", "Call"),
        rows=rows,
        models=tuple(models),
        details=facts,
    )
