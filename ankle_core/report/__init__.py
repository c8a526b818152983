"""One-page PDF case reports (fpdf2; no Streamlit).

:class:`CaseReport` gathers what a reader needs on paper: the annotated image (boxes and the
Grad-CAM overlay already drawn), the findings table, the case-level call, the model cards'
names and versions and the disclaimer; :func:`render_pdf` lays it out on one A4 page and
returns the PDF's bytes. DICOM exports (SR, SC, SEG) live in ``ankle_core.export``.
"""

from ankle_core.report.case_report import REPORT_DISCLAIMER, CaseReport
from ankle_core.report.pdf import render_pdf
from ankle_core.report.radiograph import radiograph_report

__all__ = ["REPORT_DISCLAIMER", "CaseReport", "radiograph_report", "render_pdf"]
