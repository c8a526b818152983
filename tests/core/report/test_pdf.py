"""The one-page PDF report: one page, the findings, the models and the disclaimer."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from ankle_core.errors import InvalidInputError
from ankle_core.report import REPORT_DISCLAIMER, CaseReport, render_pdf


def _text(pdf: bytes) -> str:
    """Concatenate every (deflated) content stream of the PDF."""
    chunks = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            # decompressobj tolerates the stream's last byte being taken for a line end
            chunks.append(zlib.decompressobj().decompress(match.group(1)).decode("latin-1"))
        except zlib.error:
            chunks.append(match.group(1).decode("latin-1", "replace"))
    return "\n".join(chunks)


def _report(n_rows: int = 2) -> CaseReport:
    rows = [(str(i + 1), "10, 20, 60, 70", "0.91", "indeterminate — review") for i in range(n_rows)]
    return CaseReport(
        title="Ankle radiograph",
        image_rgb=np.full((300, 200, 3), 128, np.uint8),
        summary="Case call: LMAF (p = 0.91)",
        columns=("#", "Box (px)", "p(LMAF)", "Call"),
        rows=rows,
        models=("lmaf-fragment-detector 1.0.0", "lmaf-classifier-mobilenetv2 1.2.0"),
    )


def test_report_is_one_page_with_findings_models_and_disclaimer() -> None:
    pdf = render_pdf(_report())
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1
    text = _text(pdf)
    for expected in (
        "Case call: LMAF",
        "lmaf-classifier-mobilenetv2 1.2.0",
        "indeterminate - review",
        REPORT_DISCLAIMER[:40],
    ):
        assert expected in text
    assert "/Subtype /Image" in pdf.decode("latin-1")


def test_many_findings_still_fit_one_page() -> None:
    pdf = render_pdf(_report(n_rows=40))
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1
    assert "28 more findings not shown" in _text(pdf)


def test_bad_image_or_ragged_rows_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        CaseReport(title="t", image_rgb=np.zeros((4, 4, 2), np.uint8), summary="s")
    with pytest.raises(InvalidInputError):
        CaseReport(
            title="t",
            image_rgb=np.zeros((4, 4), np.uint8),
            summary="s",
            columns=("a", "b"),
            rows=[("only one",)],
        )


def test_radiograph_report_draws_boxes_overlay_and_lists_findings() -> None:
    from ankle_core.inference.radiograph import Fragment, RadiographResult
    from ankle_core.report import radiograph_report
    from ankle_core.types import Box2D, Radiograph

    radiograph = Radiograph(np.full((64, 80), 0.5, np.float32))
    frag = Fragment(
        box=Box2D(10, 10, 30, 30), box_mm=None, detection_score=0.9, p_lmaf=0.8, call="LMAF"
    )
    result = RadiographResult(
        fragments=(frag,),
        case_p_lmaf=0.8,
        case_call="LMAF",
        timings_s={"total": 0.1},
        detector="det 1.0",
        classifier="cls 2.0",
    )
    heat = np.zeros((64, 80), np.float32)
    heat[40:60, 50:70] = 1.0
    report = radiograph_report(radiograph, result, heat, overlay_alpha=0.5)
    image = report.image_rgb
    assert image.shape == (64, 80, 3)
    assert not np.array_equal(image[50, 60], image[5, 5])  # the overlay is drawn
    assert tuple(image[10, 20]) != (127, 127, 127)  # the box edge is drawn
    assert report.rows[0][-1] == "LMAF" and "p(LMAF) = 0.80" in report.summary
    assert report.models == ("Detector: det 1.0", "Classifier: cls 2.0")
    plain = radiograph_report(radiograph, result, heat, overlay_alpha=0.0).image_rgb
    assert np.array_equal(plain[50, 60], plain[5, 5])  # no overlay at opacity 0
    assert "Classifier: cls 2.0" in _text(render_pdf(report))


def test_radiograph_report_puts_the_fracture_localiser_first_with_its_credit() -> None:
    from ankle_core.inference.localiser import LocalisedFracture, LocaliserResult
    from ankle_core.inference.radiograph import RadiographResult
    from ankle_core.report import radiograph_report
    from ankle_core.types import Box2D, Radiograph

    radiograph = Radiograph(np.full((64, 80), 0.5, np.float32))
    result = RadiographResult((), None, "no perimalleolar fragment found", {}, "d 1", "c 1")
    found = LocaliserResult(
        boxes=(LocalisedFracture(Box2D(40, 20, 60, 40), None, 0.7),),
        image_score=0.81,
        threshold=0.1,
        image_threshold=0.2,
        timings_s={},
        model="fracatlas-leg-localiser 1.0.0",
        runtime="torch",
        credit="FracAtlas, CC BY 4.0",
    )
    report = radiograph_report(radiograph, result, None, localiser=found)
    assert report.summary.startswith("Lower-limb fracture model: fracture suspected")
    assert report.rows[0][0] == "F1" and report.rows[0][2] == "0.70"
    assert report.models[0] == "Fracture localiser: fracatlas-leg-localiser 1.0.0"
    assert tuple(report.image_rgb[20, 50]) != (127, 127, 127)  # the box is drawn
    assert "FracAtlas, CC BY 4.0" in _text(render_pdf(report))
