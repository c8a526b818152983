"""A reader study's results: the long table, the statistics, the HTML report.

The long table is exactly what :func:`ankle_core.stats.reader_study` and
:func:`ankle_core.stats.mrmc_or` read (``case``, ``reader``, ``condition``, ``truth``,
``score``, ``call``) plus ``reading_time_s``. Only readers who finished both conditions enter
the analysis (the OR method needs a fully crossed design); the others are listed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ankle_core.stats import MrmcResult, ReaderStudyResult, mrmc_or, reader_study
from ankle_core.store.studies import RatingRecord, StudyRecord

__all__ = [
    "LONG_COLUMNS",
    "StudyAnalysis",
    "analyse_study",
    "long_table",
    "study_report_html",
]

logger = logging.getLogger(__name__)

LONG_COLUMNS = ("case", "reader", "condition", "truth", "score", "call", "reading_time_s")


def long_table(study: StudyRecord, ratings: Sequence[tuple[str, RatingRecord]]) -> pd.DataFrame:
    """Every rating as one row of the long table.

    Args:
        study: the study (for the truth).
        ratings: ``(reader name, rating)`` pairs (from ``StudyStore.study_ratings``).

    Returns:
        A DataFrame with :data:`LONG_COLUMNS`, sorted by reader, condition and case.
    """
    rows = [
        {
            "case": r.case_id,
            "reader": name,
            "condition": r.condition,
            "truth": study.truth[r.case_id],
            "score": r.score,
            "call": r.call,
            "reading_time_s": round(r.reading_time_s, 3),
        }
        for name, r in ratings
    ]
    frame = pd.DataFrame(rows, columns=list(LONG_COLUMNS))
    return frame.sort_values(["reader", "condition", "case"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class StudyAnalysis:
    """The owner's results.

    Attributes:
        complete_readers: readers with every case rated in both conditions.
        incomplete_readers: ``{reader: readings stored}`` for the others.
        table: the long table of the complete readers (what the analyses used).
        readers: per-reader accuracy, sensitivity, specificity per condition with CIs,
            the paired t-tests and McNemar (None with fewer than 2 complete readers).
        mrmc: Obuchowski–Rockette AUC analysis, jackknife covariance (None with fewer than 2
            complete readers).
        notes: why something is missing.
    """

    complete_readers: tuple[str, ...]
    incomplete_readers: dict[str, int]
    table: pd.DataFrame
    readers: ReaderStudyResult | None
    mrmc: MrmcResult | None
    notes: tuple[str, ...]


def analyse_study(full: pd.DataFrame, n_cases: int, *, level: float = 0.95) -> StudyAnalysis:
    """Run the reader-study statistics on the complete readers.

    Args:
        full: the long table of every rating (:func:`long_table`).
        n_cases: cases in the study (a complete reader has ``2 * n_cases`` readings).
        level: coverage of every interval.

    Returns:
        The analysis; MRMC uses ``mrmc_or(table, "jackknife")`` on the AUC of the scores.
    """
    counts = full.groupby("reader").size().to_dict() if len(full) else {}
    complete = tuple(sorted(r for r, n in counts.items() if n == 2 * n_cases))
    incomplete = {str(r): int(n) for r, n in counts.items() if n != 2 * n_cases}
    table = full[full["reader"].isin(complete)].reset_index(drop=True)
    notes: list[str] = []
    readers = mrmc = None
    if len(complete) >= 2:
        readers = reader_study(table, level=level)
        mrmc = mrmc_or(table, "jackknife", level=level)
    else:
        notes.append(
            f"The MRMC analysis needs at least 2 readers who finished both conditions; "
            f"{len(complete)} so far."
        )
    return StudyAnalysis(complete, incomplete, table, readers, mrmc, tuple(notes))


def study_report_html(
    analysis: StudyAnalysis,
    *,
    threshold: float,
    model_scores: Mapping[str, float] | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> str:
    """The stand-alone HTML report (``ankle_core.stats`` cohort report with reader columns).

    Args:
        analysis: from :func:`analyse_study` (needs at least 2 complete readers).
        threshold: the scale's call threshold (reader scores at or above it are calls).
        model_scores: case id -> the AI's LMAF probability, analysed as a model; without it
            the readers' mean aided score stands in as the model column.
        n_boot: bootstrap replicates of the report's intervals.
        seed: seed of the report's generator.

    Returns:
        HTML text (Plotly inline; nothing is fetched when it opens).

    Raises:
        InvalidInputError: with fewer than 2 complete readers.
    """
    from ankle_core.errors import InvalidInputError
    from ankle_core.stats.report import build_report
    from ankle_core.stats.report_html import render_html

    if analysis.mrmc is None:
        raise InvalidInputError("The report needs at least 2 readers who finished both conditions.")
    t = analysis.table
    wide = t.pivot_table(index="case", columns=["reader", "condition"], values="score")
    frame = pd.DataFrame({"case": wide.index})
    truth = t.drop_duplicates("case").set_index("case")["truth"]
    frame["truth"] = truth.reindex(wide.index).to_numpy()
    for reader in analysis.complete_readers:
        for cond in ("unaided", "aided"):
            frame[f"reader_{reader}_{cond}"] = wide[(reader, cond)].to_numpy()
    if model_scores:
        name = "ai_p_lmaf"
        frame[name] = [float(model_scores.get(c, np.nan)) for c in frame["case"]]
    else:
        name = "readers_mean_aided"
        cols = [f"reader_{r}_aided" for r in analysis.complete_readers]
        frame[name] = frame[cols].mean(axis=1)
    report = build_report(
        frame,
        "truth",
        [name],
        threshold=0.5 if model_scores else threshold,
        n_boot=n_boot,
        seed=seed,
        reader_threshold=threshold,
    )
    html: str = render_html(report)
    return html.replace("<h1>Cohort report</h1>", "<h1>Reader study report</h1>", 1)
