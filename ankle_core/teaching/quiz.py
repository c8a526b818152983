"""Predict, then reveal: the quiz's state as plain dataclasses (no Streamlit).

The learner commits a call (``lmaf``, ``sfo`` or ``none``) and a confidence in that call
(0–100) for the current case *before* anything else is shown; only a committed answer can be
revealed. The answer is then completed with the model's opinion, and the running score
counts correct calls. :func:`ankle_core.teaching.quiz_results.quiz_results` summarises a
finished quiz.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from ankle_core.errors import InvalidInputError
from ankle_core.teaching.cases import CLASSES, TeachingCase
from ankle_core.teaching.difficulty import ModelOpinion

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
class QuizSession:
    """A quiz in progress (the only mutable object of the package; one per browser session).

    The phase cycles ``"commit"`` (the case is shown alone, awaiting the learner's call) →
    ``"committed"`` (answer locked, nothing revealed yet) → ``"revealed"`` (truth and model
    shown) → :meth:`advance` → ``"commit"`` for the next case. After the last case's
    :meth:`advance`, :attr:`finished` is True.

    Attributes:
        cases: the quiz's cases, in the order shown.
        answers: committed answers, in order.
        phase: ``"commit"``, ``"committed"`` or ``"revealed"``.
        seed: seed of the case order.
    """

    cases: tuple[TeachingCase, ...]
    answers: list[QuizAnswer] = field(default_factory=list)
    phase: str = "commit"
    seed: int = 0

    @property
    def index(self) -> int:
        """0-based index of the case on screen."""
        return len(self.answers) if self.phase == "commit" else len(self.answers) - 1

    @property
    def finished(self) -> bool:
        """True once every case was committed, revealed and moved past."""
        return self.phase == "commit" and len(self.answers) >= len(self.cases)

    @property
    def current(self) -> TeachingCase | None:
        """The case on screen, or None when finished."""
        return None if self.finished else self.cases[self.index]

    @property
    def n_scored(self) -> int:
        """Answers counted in the running score (the revealed ones)."""
        return len(self.answers) - (1 if self.phase == "committed" else 0)

    @property
    def n_correct(self) -> int:
        """Correct calls among the revealed answers (the running score)."""
        return sum(a.correct for a in self.answers[: self.n_scored])

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
        if self.finished or self.phase != "commit":
            raise InvalidInputError("This case already has a committed answer.")
        if call not in CLASSES:
            raise InvalidInputError(f"A call is one of {CLASSES}, not {call!r}.")
        if not 0.0 <= float(confidence) <= 100.0:
            raise InvalidInputError("The confidence must lie between 0 and 100.")
        case = self.cases[self.index]
        answer = QuizAnswer(case.case_id, case.label, call, float(confidence))
        self.answers.append(answer)
        self.phase = "committed"
        return answer

    def reveal(self, model: ModelOpinion | None) -> QuizAnswer:
        """Reveal the committed answer: attach the model's opinion.

        Args:
            model: the model's opinion of the case (None when no model is installed).

        Returns:
            The completed answer.

        Raises:
            InvalidInputError: when no answer was committed yet.
        """
        if self.phase != "committed":
            raise InvalidInputError("Commit a call and a confidence before the reveal.")
        self.answers[-1] = replace(self.answers[-1], model=model)
        self.phase = "revealed"
        return self.answers[-1]

    def advance(self) -> None:
        """Move on to the next case (only after a reveal).

        Raises:
            InvalidInputError: when the current answer has not been revealed.
        """
        if self.phase != "revealed":
            raise InvalidInputError("Reveal the answer before moving on.")
        self.phase = "commit"


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
