"""The quiz on real FracAtlas radiographs: fracture or not, a confidence, and a click.

The learner commits, for the case on screen, a call (fractured or not), a confidence in it
(0–100) and, for a fracture call, the pixel where the fracture is. Only then is anything
revealed. :func:`real_quiz_results` scores a finished quiz: the detection AUC of the
confidences with a DeLong interval, sensitivity and specificity with Wilson intervals, the
localisation accuracy (share of clicks on fractured cases that fall inside a true box) and
Cohen's kappa of the calls against the reference and against the model.

A quiz round-trips through a short URL-safe token (:meth:`RealQuizSession.to_token`,
:func:`quiz_from_token`), so the page can resume it after a reload.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ankle_core.errors import InvalidInputError
from ankle_core.stats import AucWithCI, CohenKappa, auc_ci
from ankle_core.teaching.quiz_phases import PHASES, QuizProgress
from ankle_core.teaching.quiz_results import Proportion, _kappa, _proportion
from ankle_core.teaching.real_cases import FRACATLAS_CREDIT, RealCase

__all__ = [
    "RealQuizAnswer",
    "RealQuizResults",
    "RealQuizSession",
    "fracture_score",
    "new_real_quiz",
    "quiz_from_token",
    "real_answers_frame",
    "real_quiz_results",
    "real_results_csv",
]


def fracture_score(fractured: bool, confidence: float) -> float:
    """The learner's fracture score in [0, 1]: ``0.5 ± confidence/200``.

    Args:
        fractured: the learner's call.
        confidence: 0 (guess) to 100 (certain).

    Returns:
        The score, ranking the learner's belief that the image shows a fracture.

    >>> fracture_score(True, 100), fracture_score(False, 60)
    (1.0, 0.2)
    """
    half = float(confidence) / 200.0
    return 0.5 + half if fractured else 0.5 - half


@dataclass(frozen=True)
class RealQuizAnswer:
    """One committed answer on a real case, and what was revealed after it.

    Attributes:
        case_id: the case (``"fracatlas:<image id>"``).
        truth: 1 when the image shows a fracture, else 0.
        call: the learner's call (True: fractured).
        confidence: the learner's confidence in the call, 0–100.
        click: the learner's click ``(x, y)`` in image pixels, or None (no fracture called).
        hit: whether the click lies inside a true fracture box; None when the case is not
            fractured or there is no click.
        model_score: the model's image-level fracture score (None until revealed or without
            a model).
        model_call: the model's call at its operating point (None likewise).
    """

    case_id: str
    truth: int
    call: bool
    confidence: float
    click: tuple[float, float] | None
    hit: bool | None
    model_score: float | None = None
    model_call: bool | None = None

    @property
    def correct(self) -> bool:
        """Whether the call matches the reference."""
        return int(self.call) == self.truth

    @property
    def score(self) -> float:
        """The learner's fracture score (see :func:`fracture_score`)."""
        return fracture_score(self.call, self.confidence)


@dataclass
class RealQuizSession(QuizProgress[RealCase, RealQuizAnswer]):
    """A real-image quiz in progress: fracture or not, a confidence and a click.

    The phases and the running score are :class:`~ankle_core.teaching.quiz_phases.QuizProgress`'s.
    """

    def commit(
        self, fractured: bool, confidence: float, click: tuple[float, float] | None
    ) -> RealQuizAnswer:
        """Commit the call, the confidence and the click for the current case.

        Args:
            fractured: the learner's call.
            confidence: 0–100.
            click: ``(x, y)`` image pixels where the learner sees the fracture; required
                with a fracture call, ignored without one.

        Returns:
            The committed answer.

        Raises:
            InvalidInputError: the quiz is finished or the case already answered, the
                confidence lies outside 0–100, a fracture call has no click, or the click
                lies outside the image.
        """
        case = self._case_to_answer()
        if not 0.0 <= float(confidence) <= 100.0:
            raise InvalidInputError("The confidence must lie between 0 and 100.")
        point = None
        if fractured:
            if click is None:
                raise InvalidInputError("Click on the image where you see the fracture first.")
            x, y = float(click[0]), float(click[1])
            if not (0.0 <= x <= case.width and 0.0 <= y <= case.height):
                raise InvalidInputError("The click lies outside the image.")
            point = (x, y)
        hit = None if point is None or not case.fractured else case.click_hits(*point)
        answer = RealQuizAnswer(
            case.case_id, case.truth, bool(fractured), float(confidence), point, hit
        )
        return self._record(answer)

    def reveal(self, model_score: float | None, model_call: bool | None) -> RealQuizAnswer:
        """Reveal the committed answer: attach the model's opinion (None without a model).

        Raises:
            InvalidInputError: when no answer was committed yet.
        """
        return self._reveal_with(model_score=model_score, model_call=model_call)

    def to_token(self) -> str:
        """The session as a short URL-safe token (case ids, answers, phase, seed)."""
        doc = {
            "v": 1,
            "s": self.seed,
            "p": self.phase,
            "c": [c.image_id for c in self.cases],
            "a": [
                [
                    int(a.call),
                    round(a.confidence, 1),
                    None if a.click is None else [round(a.click[0], 1), round(a.click[1], 1)],
                    a.model_score if a.model_score is None else round(a.model_score, 4),
                    None if a.model_call is None else int(a.model_call),
                ]
                for a in self.answers
            ],
        }
        raw = json.dumps(doc, separators=(",", ":")).encode("utf-8")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def quiz_from_token(token: str, pool: Mapping[str, RealCase]) -> RealQuizSession:
    """Rebuild a quiz from :meth:`RealQuizSession.to_token`, replaying each answer.

    Args:
        token: the token (e.g. from the page's URL).
        pool: real cases by image id.

    Returns:
        The session as it was.

    Raises:
        InvalidInputError: when the token is damaged, names an unknown case, or replays an
            answer the rules refuse.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw.decode("utf-8"))
        cases = tuple(pool[str(i)] for i in doc["c"])
        session = RealQuizSession(cases=cases, seed=int(doc["s"]))
        answers = doc["a"]
        phase = str(doc["p"])
        for i, (call, conf, click, m_score, m_call) in enumerate(answers):
            point = None if click is None else (float(click[0]), float(click[1]))
            session.commit(bool(call), float(conf), point)
            if i < len(answers) - 1 or phase != "committed":
                session.reveal(
                    None if m_score is None else float(m_score),
                    None if m_call is None else bool(m_call),
                )
                if i < len(answers) - 1 or phase == "commit":
                    session.advance()
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error) as exc:
        raise InvalidInputError("This quiz link is damaged; start a new quiz.") from exc
    if phase not in PHASES or session.phase != phase:
        raise InvalidInputError("This quiz link is damaged; start a new quiz.")
    return session


def new_real_quiz(cases: Sequence[RealCase], n: int, seed: int) -> RealQuizSession:
    """A quiz of ``n`` real cases drawn in a random order.

    Args:
        cases: the pool (e.g. the filtered real collection).
        n: cases in the quiz (at most the pool size).
        seed: seed of the draw (recorded in the session).

    Returns:
        A fresh session.
    """
    rng = random.Random(seed)
    chosen = rng.sample(list(cases), k=min(n, len(cases)))
    return RealQuizSession(cases=tuple(chosen), seed=seed)


@dataclass(frozen=True)
class RealQuizResults:
    """Everything the real quiz's results screen and exports show.

    Attributes:
        n: answered cases.
        n_correct: correct calls.
        auc: AUC of the fracture scores with its DeLong CI, or None (see ``notes``).
        sensitivity: fractured cases called fractured.
        specificity: non-fractured cases called not fractured.
        localisation: clicks inside a true box, among fractured cases called fractured.
        kappa_truth: Cohen's kappa of the calls against the reference, or None.
        kappa_model: Cohen's kappa of the calls against the model's, or None.
        missed: the wrong calls and the fracture calls whose click missed, to review.
        notes: why a quantity is missing.
        level: coverage of the intervals.
    """

    n: int
    n_correct: int
    auc: AucWithCI | None
    sensitivity: Proportion
    specificity: Proportion
    localisation: Proportion
    kappa_truth: CohenKappa | None
    kappa_model: CohenKappa | None
    missed: tuple[RealQuizAnswer, ...]
    notes: tuple[str, ...]
    level: float

    def summary_rows(self) -> list[tuple[str, str]]:
        """(quantity, value) rows for display and export."""
        pct = f"{self.level:.0%}"
        auc = (
            "n/a"
            if self.auc is None
            else f"{self.auc.auc:.3f} ({pct} CI {self.auc.ci_low:.3f}–{self.auc.ci_high:.3f})"
        )

        def kappa(k: CohenKappa | None) -> str:
            return (
                "n/a" if k is None else f"{k.kappa:.3f} ({pct} CI {k.ci_low:.3f}–{k.ci_high:.3f})"
            )

        return [
            ("Cases answered", str(self.n)),
            ("Correct calls", f"{self.n_correct}/{self.n}"),
            ("Detection AUC (from confidences)", auc),
            ("Sensitivity for fracture", self.sensitivity.text()),
            ("Specificity for fracture", self.specificity.text()),
            ("Localisation accuracy (click in a true box)", self.localisation.text()),
            ("Cohen's kappa vs reference", kappa(self.kappa_truth)),
            ("Cohen's kappa vs the model", kappa(self.kappa_model)),
            ("Cases to review", str(len(self.missed))),
        ]


def real_quiz_results(answers: Sequence[RealQuizAnswer], *, level: float = 0.95) -> RealQuizResults:
    """Summarise a real quiz's committed answers.

    Args:
        answers: the committed answers.
        level: coverage of every interval.

    Returns:
        The results.

    Raises:
        InvalidInputError: with no answer at all.
    """
    if not answers:
        raise InvalidInputError("Answer at least one case to see results.")
    notes: list[str] = []
    truth = np.array([a.truth for a in answers])
    called = np.array([int(a.call) for a in answers])
    scores = np.array([a.score for a in answers], dtype=np.float64)
    auc = None
    try:
        auc = auc_ci(truth, scores, level=level)
    except InvalidInputError as exc:
        notes.append(f"No AUC for this quiz: {exc}")
    pos = truth == 1
    sens = _proportion(int((called[pos] == 1).sum()), int(pos.sum()), level)
    spec = _proportion(int((called[~pos] == 0).sum()), int((~pos).sum()), level)
    clicked = [a for a in answers if a.hit is not None]
    loc = _proportion(sum(bool(a.hit) for a in clicked), len(clicked), level)
    if not clicked:
        notes.append("No fracture was called on a fractured case, so no click to score.")
    names = {0: "no fracture", 1: "fracture"}
    k_truth = _kappa(
        [names[int(a.call)] for a in answers],
        [names[a.truth] for a in answers],
        "vs reference",
        notes,
        level,
    )
    with_model = [a for a in answers if a.model_call is not None]
    k_model = None
    if with_model:
        k_model = _kappa(
            [names[int(a.call)] for a in with_model],
            [names[int(bool(a.model_call))] for a in with_model],
            "vs the model",
            notes,
            level,
        )
    else:
        notes.append("No model opinion was available for these cases.")
    missed = tuple(a for a in answers if not a.correct or a.hit is False)
    return RealQuizResults(
        n=len(answers),
        n_correct=int(sum(a.correct for a in answers)),
        auc=auc,
        sensitivity=sens,
        specificity=spec,
        localisation=loc,
        kappa_truth=k_truth,
        kappa_model=k_model,
        missed=missed,
        notes=tuple(notes),
        level=level,
    )


def real_answers_frame(answers: Sequence[RealQuizAnswer]) -> pd.DataFrame:
    """One row per answer: case, truth, call, confidence, score, click, hit, model.

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
                "truth": "fracture" if a.truth else "no fracture",
                "your_call": "fracture" if a.call else "no fracture",
                "confidence": a.confidence,
                "fracture_score": round(a.score, 4),
                "correct": a.correct,
                "click_x": None if a.click is None else round(a.click[0], 1),
                "click_y": None if a.click is None else round(a.click[1], 1),
                "click_in_true_box": a.hit,
                "model_call": (
                    None
                    if a.model_call is None
                    else ("fracture" if a.model_call else "no fracture")
                ),
                "model_score": a.model_score,
            }
        )
    return pd.DataFrame(rows)


def real_results_csv(answers: Sequence[RealQuizAnswer], results: RealQuizResults) -> bytes:
    """The CSV download: credit and summary as ``#`` comment lines, then the answers.

    Args:
        answers: committed answers.
        results: their summary.

    Returns:
        UTF-8 CSV bytes; ``pandas.read_csv(..., comment="#")`` reads the answers back.
    """
    body = str(real_answers_frame(answers).to_csv(index=False))
    head = f'# credit,"{FRACATLAS_CREDIT}"\n'
    summary = "".join(f'# {k},"{v}"\n' for k, v in results.summary_rows())
    return (head + summary + body).encode("utf-8")
