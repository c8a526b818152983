"""Lay a :class:`CaseReport` out on one A4 page with fpdf2."""

from __future__ import annotations

import logging

from fpdf import FPDF
from PIL import Image

from ankle_core.report.case_report import CaseReport

__all__ = ["render_pdf"]

logger = logging.getLogger(__name__)

_PAGE_W, _PAGE_H, _MARGIN = 210.0, 297.0, 14.0
_MAX_ROWS = 12
_MAX_IMAGE_PX = 1000
# The core PDF fonts are Latin-1 only; keep the report free of font files.
_REPLACEMENTS = {"—": "-", "–": "-", "≥": ">=", "≤": "<=", "±": "+/-", "·": "-", "’": "'"}


def _latin1(text: str) -> str:
    for src, dst in _REPLACEMENTS.items():
        text = text.replace(src, dst)
    return text.encode("latin-1", "replace").decode("latin-1")


def render_pdf(report: CaseReport) -> bytes:
    """Render the report as a one-page PDF.

    The image is scaled to fit the upper half of the page; at most 12 findings rows are
    printed (a note says how many were left out).

    Args:
        report: the content.

    Returns:
        The PDF file's bytes.
    """
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.add_page()
    width = _PAGE_W - 2 * _MARGIN

    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(width, 8, _latin1(report.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    stamp = report.created_at.strftime("%Y-%m-%d %H:%M UTC")
    pdf.cell(
        width,
        5,
        _latin1(f"Generated {stamp} - ankle fracture-AI workbench"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_fill_color(255, 243, 205)
    pdf.set_font("Helvetica", "B", 8)
    pdf.multi_cell(width, 4.2, _latin1(report.disclaimer), fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    image = Image.fromarray(report.image_rgb, mode="RGB")
    image.thumbnail((_MAX_IMAGE_PX, _MAX_IMAGE_PX))  # keeps the file small; 1,000 px is print-sharp
    box_h = 120.0
    scale = min(width / image.width, box_h / image.height)
    img_w, img_h = image.width * scale, image.height * scale
    pdf.image(image, x=_MARGIN + (width - img_w) / 2, y=pdf.get_y(), w=img_w, h=img_h)
    pdf.set_y(pdf.get_y() + img_h + 3)

    pdf.set_font("Helvetica", "B", 11)
    pdf.multi_cell(width, 6, _latin1(report.summary), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    if report.columns:
        _table(pdf, report, width)
    if report.models:
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(width, 5, "Models", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)
        for model in report.models:
            pdf.cell(width, 4, _latin1(f"- {model}"), new_x="LMARGIN", new_y="NEXT")
    if report.details:
        pdf.ln(1)
        pdf.set_font("Helvetica", "", 7)
        for key, value in list(report.details.items())[:10]:
            pdf.multi_cell(width, 3.6, _latin1(f"{key}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(_PAGE_H - _MARGIN - 6)
    pdf.set_font("Helvetica", "I", 7)
    footer = report.disclaimer.split(". ")[0].rstrip(".") + "."
    pdf.cell(width, 4, _latin1(footer), align="C")
    logger.debug("rendered report with %d findings", len(report.rows))
    return bytes(pdf.output())


def _table(pdf: FPDF, report: CaseReport, width: float) -> None:
    col_w = width / len(report.columns)
    pdf.set_font("Helvetica", "B", 8)
    pdf.set_fill_color(230, 236, 245)
    for name in report.columns:
        pdf.cell(col_w, 5, _latin1(str(name)), border=1, fill=True)
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for row in report.rows[:_MAX_ROWS]:
        for cell in row:
            pdf.cell(col_w, 5, _latin1(str(cell))[:40], border=1)
        pdf.ln()
    if len(report.rows) > _MAX_ROWS:
        pdf.cell(
            width,
            4,
            f"... {len(report.rows) - _MAX_ROWS} more findings not shown",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(2)
