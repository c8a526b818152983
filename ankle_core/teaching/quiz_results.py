"""The learner's results at the end of a quiz: AUC, sensitivity, specificity, kappa, misses.

The positive class is LMAF (the fracture). The AUC ranks the learner's LMAF scores
(:func:`ankle_core.teaching.quiz.lmaf_score`) with a DeLong (1988) interval; sensitivity and
specificity count LMAF calls with Wilson (1927) intervals; Cohen's (1960) kappa compares the
three-class calls with the truth and with the model's calls. Quantities a quiz cannot support
(an AUC from a single class, a kappa with one category) are None with a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ankle_core.errors import InvalidInputError
from ankle_core.stats import AucWithCI, CohenKappa, auc_ci, cohen_kappa, wilson_interval
from ankle_core.teaching.cases import CLASS_NAMES
from ankle_core.teaching.quiz import QuizAnswer

__all__ = ["Proportion", "QuizResults", "answers_frame", "quiz_results", "results_csv"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proportion:
    """A proportion with its Wilson interval (NaN when the denominator is 0)."""

    value: float
    numerator: int
    denominator: int
    ci_low: float
    ci_high: float

    def text(self) -> str:
        """``"0.75 (0.30–0.95), 3/4"`` or ``"n/a"``."""
        if self.denominator == 0:
            return "n/a (no such case)"
        return (
            f"{self.value:.2f} ({self.ci_low:.2f}–{self.ci_high:.2f}), "
            f"{self.numerator}/{self.denominator}"
        )


def _proportion(num: int, den: int, level: float) -> Proportion:
    if den == 0:
        nan = float("nan")
        return Proportion(nan, 0, 0, nan, nan)
    lo, hi = wilson_interval(num, den, level)
    return Proportion(num / den, num, den, float(lo), float(hi))


@dataclass(frozen=True)
class QuizResults:
    """Everything the results screen and the exports show.

    Attributes:
        n: answered cases.
        n_correct: correct three-class calls.
        auc: AUC of the LMAF scores with its DeLong CI, or None (see ``notes``).
        sensitivity: LMAF called LMAF, among LMAF cases.
        specificity: non-LMAF called non-LMAF, among non-LMAF cases.
        kappa_truth: Cohen's kappa of the calls against the truth, or None.
        kappa_model: Cohen's kappa of the calls against the model's calls, or None.
        missed: the wrongly called answers, to review.
        notes: why a quantity is missing.
        level: coverage of the intervals.
    """

    n: int
    n_correct: int
    auc: AucWithCI | None
    sensitivity: Proportion
    specificity: Proportion
    kappa_truth: CohenKappa | None
    kappa_model: CohenKappa | None
    missed: tuple[QuizAnswer, ...]
    notes: tuple[str, ...]
    level: float

    def summary_rows(self) -> list[tuple[str, str]]:
        """(quantity, value) rows for display and export."""
        pct = f"{self.level:.0%}"
        auc = (
            "n/a"
            if self.auc is None
            else (f"{self.auc.auc:.3f} ({pct} CI {self.auc.ci_low:.3f}–{self.auc.ci_high:.3f})")
        )

        def kappa(k: CohenKappa | None) -> str:
            return (
                "n/a" if k is None else f"{k.kappa:.3f} ({pct} CI {k.ci_low:.3f}–{k.ci_high:.3f})"
            )

        return [
            ("Cases answered", str(self.n)),
            ("Correct calls", f"{self.n_correct}/{self.n}"),
            ("AUC (LMAF vs not, from confidences)", auc),
            ("Sensitivity for LMAF", self.sensitivity.text()),
            ("Specificity for LMAF", self.specificity.text()),
            ("Cohen's kappa vs truth", kappa(self.kappa_truth)),
            ("Cohen's kappa vs the model", kappa(self.kappa_model)),
            ("Cases missed", str(len(self.missed))),
        ]


def _kappa(
    a: Sequence[str], b: Sequence[str], what: str, notes: list[str], level: float
) -> CohenKappa | None:
    try:
        k = cohen_kappa(np.asarray(a), np.asarray(b), level=level)
    except InvalidInputError as exc:
        notes.append(f"Kappa {what}: {exc}")
        return None
    if not np.isfinite(k.kappa):
        notes.append(f"Kappa {what} is undefined for these answers (one category only).")
        return None
    return k


def quiz_results(answers: Sequence[QuizAnswer], *, level: float = 0.95) -> QuizResults:
    """Summarise a quiz's committed answers.

    Args:
        answers: the committed answers (revealed ones carry the model's opinion).
        level: coverage of every interval.

    Returns:
        The results.

    Raises:
        InvalidInputError: with no answer at all.
    """
    if not answers:
        raise InvalidInputError("Answer at least one case to see results.")
    notes: list[str] = []
    truth = np.array([int(a.truth == "lmaf") for a in answers])
    called = np.array([int(a.call == "lmaf") for a in answers])
    scores = np.array([a.score for a in answers], dtype=np.float64)
    auc = None
    try:
        auc = auc_ci(truth, scores, level=level)
    except InvalidInputError as exc:
        notes.append(f"No AUC for this quiz: {exc}")
    pos = truth == 1
    sens = _proportion(int((called[pos] == 1).sum()), int(pos.sum()), level)
    spec = _proportion(int((called[~pos] == 0).sum()), int((~pos).sum()), level)
    calls = [a.call for a in answers]
    k_truth = _kappa(calls, [a.truth for a in answers], "vs truth", notes, level)
    with_model = [a for a in answers if a.model is not None]
    k_model = None
    if with_model:
        k_model = _kappa(
            [a.call for a in with_model],
            [a.model.class_id for a in with_model if a.model is not None],
            "vs the model",
            notes,
            level,
        )
    else:
        notes.append("No model opinion was available for these cases.")
    missed = tuple(a for a in answers if not a.correct)
    return QuizResults(
        n=len(answers),
        n_correct=len(answers) - len(missed),
        auc=auc,
        sensitivity=sens,
        specificity=spec,
        kappa_truth=k_truth,
        kappa_model=k_model,
        missed=missed,
        notes=tuple(notes),
        level=level,
    )


def answers_frame(answers: Sequence[QuizAnswer]) -> pd.DataFrame:
    """One row per answer: case, truth, call, confidence, LMAF score, correct, model.

    Args:
        answers: committed answers.

    Returns:
        A DataFrame (the CSV export's rows).
    """
    rows = []
    for i, a in enumerate(answers, start=1):
        rows.append(
            {
                "order": i,
                "case": a.case_id,
                "truth": CLASS_NAMES[a.truth],
                "your_call": CLASS_NAMES[a.call],
                "confidence": a.confidence,
                "lmaf_score": round(a.score, 4),
                "correct": a.correct,
                "model_call": None if a.model is None else a.model.call,
                "model_p_lmaf": None if a.model is None else a.model.p_lmaf,
            }
        )
    return pd.DataFrame(rows)


def results_csv(answers: Sequence[QuizAnswer], results: QuizResults) -> bytes:
    """The CSV download: the answers, then the summary as ``# quantity,value`` comment lines.

    Args:
        answers: committed answers.
        results: their summary.

    Returns:
        UTF-8 CSV bytes; ``pandas.read_csv(..., comment="#")`` reads the answers back.
    """
    body = str(answers_frame(answers).to_csv(index=False))
    summary = "".join(f'# {k},"{v}"\n' for k, v in results.summary_rows())
    return (summary + body).encode("utf-8")
