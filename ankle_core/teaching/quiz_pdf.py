"""The quiz results as a PDF (fpdf2, Latin-1 core fonts, no font files)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fpdf import FPDF

from ankle_core.teaching.cases import CLASS_NAMES
from ankle_core.teaching.quiz import QuizAnswer
from ankle_core.teaching.quiz_results import QuizResults
from ankle_core.teaching.real_cases import FRACATLAS_CREDIT
from ankle_core.teaching.real_quiz import RealQuizAnswer, RealQuizResults

__all__ = ["real_results_pdf", "results_pdf"]

_REPLACEMENTS = {
    "—": "-",
    "–": "-",
    "≥": ">=",
    "≤": "<=",
    "±": "+/-",
    "·": "-",
    "’": "'",
    "κ": "kappa",
}
_NOTE = (
    "Research and teaching use; every case is a synthetic phantom; demo models trained on phantoms."
)


def _latin1(text: str) -> str:
    for src, dst in _REPLACEMENTS.items():
        text = text.replace(src, dst)
    return text.encode("latin-1", "replace").decode("latin-1")


def results_pdf(answers: Sequence[QuizAnswer], results: QuizResults) -> bytes:
    """Render the results: summary table, the missed cases and every answer.

    Args:
        answers: the committed answers.
        results: their summary (:func:`ankle_core.teaching.quiz_results.quiz_results`).

    Returns:
        The PDF file's bytes (A4, as many pages as needed).
    """
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(width, 8, "LMAF vs SFO quiz - your results", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    pdf.cell(width, 5, _latin1(f"Generated {stamp}. {_NOTE}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 10)
    for key, value in results.summary_rows():
        pdf.cell(75, 6, _latin1(key), border=1)
        pdf.cell(width - 75, 6, _latin1(value), border=1, new_x="LMARGIN", new_y="NEXT")
    for note in results.notes:
        pdf.set_font("Helvetica", "I", 8)
        pdf.multi_cell(width, 4, _latin1(f"Note: {note}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(width, 7, "Cases to review (missed)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    if not results.missed:
        pdf.cell(width, 5, "None - every call was right.", new_x="LMARGIN", new_y="NEXT")
    for a in results.missed:
        model = "-" if a.model is None else a.model.call
        line = (
            f"{a.case_id}: truth {CLASS_NAMES[a.truth]}, you said {CLASS_NAMES[a.call]} "
            f"({a.confidence:.0f}%), model {model}"
        )
        pdf.multi_cell(width, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(width, 7, "All answers", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    heads = ("#", "Case", "Truth", "Your call", "Conf.", "Model")
    widths = (8, 70, 24, 24, 14, width - 140)
    for head, w in zip(heads, widths, strict=True):
        pdf.cell(w, 5, head, border=1)
    pdf.ln()
    for i, a in enumerate(answers, start=1):
        model = "-" if a.model is None else a.model.call
        cells = (
            str(i),
            a.case_id,
            CLASS_NAMES[a.truth],
            CLASS_NAMES[a.call],
            f"{a.confidence:.0f}",
            model,
        )
        for text, w in zip(cells, widths, strict=True):
            pdf.cell(w, 5, _latin1(text)[:60], border=1)
        pdf.ln()
    return bytes(pdf.output())


_REAL_NOTE = (
    "Research and teaching use. Real radiographs; the reference is FracAtlas' annotation; "
    "teaching notes are not a radiologist's report."
)


def real_results_pdf(answers: Sequence[RealQuizAnswer], results: RealQuizResults) -> bytes:
    """Render a real-image quiz's results with the FracAtlas credit line.

    Args:
        answers: the committed answers.
        results: their summary (:func:`ankle_core.teaching.real_quiz.real_quiz_results`).

    Returns:
        The PDF file's bytes (A4, as many pages as needed).
    """
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(
        width, 8, "Fracture quiz on real radiographs - your results", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", "", 8)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    pdf.multi_cell(
        width, 4, _latin1(f"Generated {stamp}. {_REAL_NOTE}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.multi_cell(width, 4, _latin1(FRACATLAS_CREDIT), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 10)
    for key, value in results.summary_rows():
        pdf.cell(80, 6, _latin1(key), border=1)
        pdf.cell(width - 80, 6, _latin1(value), border=1, new_x="LMARGIN", new_y="NEXT")
    for note in results.notes:
        pdf.set_font("Helvetica", "I", 8)
        pdf.multi_cell(width, 4, _latin1(f"Note: {note}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(width, 7, "All answers", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    heads = ("#", "Case", "Truth", "Your call", "Conf.", "Click in box", "Model")
    widths = (8, 52, 24, 24, 14, 22, width - 144)
    for head, w in zip(heads, widths, strict=True):
        pdf.cell(w, 5, head, border=1)
    pdf.ln()
    for i, a in enumerate(answers, start=1):
        model = "-" if a.model_call is None else ("fracture" if a.model_call else "no fracture")
        hit = "-" if a.hit is None else ("yes" if a.hit else "no")
        cells = (
            str(i),
            a.case_id,
            "fracture" if a.truth else "no fracture",
            "fracture" if a.call else "no fracture",
            f"{a.confidence:.0f}",
            hit,
            model,
        )
        for text, w in zip(cells, widths, strict=True):
            pdf.cell(w, 5, _latin1(text)[:40], border=1)
        pdf.ln()
    return bytes(pdf.output())
