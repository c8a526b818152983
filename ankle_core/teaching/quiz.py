"""Predict, then reveal: the quiz's state as plain dataclasses (no Streamlit).

The learner commits a call (``lmaf``, ``sfo`` or ``none``) and a confidence in that call
(0–100) for the current case *before* anything else is shown; only a committed answer can be
revealed. The answer is then completed with the model's opinion, and the running score
counts correct calls. :func:`ankle_core.teaching.quiz_results.quiz_results` summarises a
finished quiz.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ankle_core.errors import InvalidInputError
from ankle_core.teaching.cases import CLASSES, TeachingCase
from ankle_core.teaching.difficulty import ModelOpinion
from ankle_core.teaching.quiz_phases import QuizProgress

__all__ = ["QuizAnswer", "QuizSession", "lmaf_score", "new_quiz"]


def lmaf_score(call: str, confidence: float) -> float:
    """The learner's LMAF score in [0, 1] from a call and a confidence in it.

    An LMAF call with confidence c scores ``0.5 + c/200``; any other call ``0.5 − c/200``,
    so the scores rank the learner's belief that the case is an LMAF (for the ROC/AUC).

    Args:
        call: ``"lmaf"``, ``"sfo"`` or ``"none"``.
        confidence: 0 (guess) to 100 (certain).

    Returns:
        The score.

    >>> lmaf_score("lmaf", 100), lmaf_score("sfo", 60)
    (1.0, 0.2)
    """
    half = float(confidence) / 200.0
    return 0.5 + half if call == "lmaf" else 0.5 - half


@dataclass(frozen=True)
class QuizAnswer:
    """One committed answer, and what was revealed after it.

    Attributes:
        case_id: the case.
        truth: the true class id.
        call: the learner's class id.
        confidence: the learner's confidence in the call, 0–100.
        model: the model's opinion (None until revealed).
    """

    case_id: str
    truth: str
    call: str
    confidence: float
    model: ModelOpinion | None = None

    @property
    def correct(self) -> bool:
        """Whether the learner's call matches the truth."""
        return self.call == self.truth

    @property
    def score(self) -> float:
        """The learner's LMAF score (see :func:`lmaf_score`)."""
        return lmaf_score(self.call, self.confidence)


@dataclass
class QuizSession(QuizProgress[TeachingCase, QuizAnswer]):
    """A phantom quiz in progress (one per browser session): LMAF, SFO or no fragment.

    The phases and the running score are :class:`~ankle_core.teaching.quiz_phases.QuizProgress`'s:
    the learner commits a call and a confidence before anything is revealed.
    """

    def commit(self, call: str, confidence: float) -> QuizAnswer:
        """Commit the learner's call and confidence for the current case.

        Args:
            call: ``"lmaf"``, ``"sfo"`` or ``"none"``.
            confidence: 0–100.

        Returns:
            The committed answer.

        Raises:
            InvalidInputError: the quiz is finished, the case already has an answer, the
                call is unknown or the confidence lies outside 0–100.
        """
        case = self._case_to_answer()
        if call not in CLASSES:
            raise InvalidInputError(f"A call is one of {CLASSES}, not {call!r}.")
        if not 0.0 <= float(confidence) <= 100.0:
            raise InvalidInputError("The confidence must lie between 0 and 100.")
        return self._record(QuizAnswer(case.case_id, case.label, call, float(confidence)))

    def reveal(self, model: ModelOpinion | None) -> QuizAnswer:
        """Reveal the committed answer: attach the model's opinion.

        Args:
            model: the model's opinion of the case (None when no model is installed).

        Returns:
            The completed answer.

        Raises:
            InvalidInputError: when no answer was committed yet.
        """
        return self._reveal_with(model=model)


def new_quiz(cases: list[TeachingCase], n: int, seed: int) -> QuizSession:
    """A quiz of ``n`` cases drawn in a random order.

    Args:
        cases: the pool (e.g. the filtered library).
        n: cases in the quiz (at most the pool size).
        seed: seed of the draw (recorded in the session).

    Returns:
        A fresh session.
    """
    rng = random.Random(seed)
    chosen = rng.sample(list(cases), k=min(n, len(cases)))
    return QuizSession(cases=tuple(chosen), seed=seed)
