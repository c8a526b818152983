"""The predict-then-reveal phases every quiz shares (phantom or real cases).

A quiz shows one case at a time. Its phase cycles ``"commit"`` (the case is shown alone,
awaiting the learner's answer) → ``"committed"`` (answer locked, nothing revealed yet) →
``"revealed"`` (truth and model shown) → :meth:`QuizProgress.advance` → ``"commit"`` for the
next case. After the last case's advance, :attr:`QuizProgress.finished` is True. Only the
revealed answers count in the running score.

:class:`QuizProgress` holds these rules once; a quiz subclasses it and adds its own
``commit`` (what an answer is) and ``reveal`` (what the model says).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from ankle_core.errors import InvalidInputError

__all__ = ["PHASES", "QuizProgress"]

#: The phases, in the order a case goes through them.
PHASES: tuple[str, ...] = ("commit", "committed", "revealed")


class _Answer(Protocol):
    @property
    def correct(self) -> bool: ...


CaseT = TypeVar("CaseT")
AnswerT = TypeVar("AnswerT", bound=_Answer)


@dataclass
class QuizProgress(Generic[CaseT, AnswerT]):
    """A quiz in progress: its cases, the answers so far and the phase.

    Attributes:
        cases: the quiz's cases, in the order shown.
        answers: committed answers, in order.
        phase: ``"commit"``, ``"committed"`` or ``"revealed"``.
        seed: seed of the case order.
    """

    cases: tuple[CaseT, ...]
    answers: list[AnswerT] = field(default_factory=list)
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
    def current(self) -> CaseT | None:
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

    def _case_to_answer(self) -> CaseT:
        """The case awaiting an answer.

        Raises:
            InvalidInputError: the quiz is finished or the case already has an answer.
        """
        if self.finished or self.phase != "commit":
            raise InvalidInputError("This case already has a committed answer.")
        return self.cases[self.index]

    def _record(self, answer: AnswerT) -> AnswerT:
        """Lock ``answer`` in for the current case."""
        self.answers.append(answer)
        self.phase = "committed"
        return answer

    def _reveal_with(self, **model: Any) -> AnswerT:
        """Complete the committed answer with the model's fields and reveal it.

        Raises:
            InvalidInputError: when no answer was committed yet.
        """
        if self.phase != "committed":
            raise InvalidInputError("Commit a call and a confidence before the reveal.")
        answer: Any = self.answers[-1]  # a frozen dataclass (both quizzes' answers are)
        self.answers[-1] = dataclasses.replace(answer, **model)
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
