"""Difficulty of a teaching case, from the model's confidence in the true class.

A case the model gets right with high confidence is *easy*; one it gets right narrowly is
*moderate*; one it gets wrong or cannot decide is *hard*. The model's outputs enter as plain
numbers so that this module needs no model.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelOpinion", "class_of_call", "confidence_in_truth", "difficulty_bin"]

_CALL_TO_CLASS = {"LMAF": "lmaf", "SFO": "sfo", "no perimalleolar fragment found": "none"}


def class_of_call(case_call: str) -> str:
    """The class id of a pipeline case call (``"indeterminate"`` for an undecided call).

    >>> class_of_call("LMAF"), class_of_call("no perimalleolar fragment found")
    ('lmaf', 'none')
    """
    return _CALL_TO_CLASS.get(case_call, "indeterminate")


@dataclass(frozen=True)
class ModelOpinion:
    """What the model said about one case, reduced to plain numbers.

    Attributes:
        call: the pipeline's case call (``"LMAF"``, ``"SFO"``, indeterminate or no fragment).
        p_lmaf: the case probability of LMAF in [0, 1]; None when no fragment was found.
        max_detection: the highest fragment detection score in [0, 1]; 0 with no fragment.
    """

    call: str
    p_lmaf: float | None
    max_detection: float

    @property
    def score(self) -> float:
        """The model's LMAF score for ROC analysis (0 when no fragment was found)."""
        return 0.0 if self.p_lmaf is None else float(self.p_lmaf)

    @property
    def class_id(self) -> str:
        """The call as a class id (``lmaf``, ``sfo``, ``none`` or ``indeterminate``)."""
        return class_of_call(self.call)


def confidence_in_truth(label: str, opinion: ModelOpinion) -> float:
    """The model's confidence, in [0, 1], in the case's true class.

    LMAF: p(LMAF). SFO: a fragment was found (detection score) and it is not an LMAF
    (1 − p). No fragment: 1 − the highest detection score.

    Args:
        label: ``"lmaf"``, ``"sfo"`` or ``"none"``.
        opinion: the model's outputs.

    Returns:
        Confidence in [0, 1].

    >>> confidence_in_truth("lmaf", ModelOpinion("LMAF", 0.9, 0.8))
    0.9
    """
    if label == "none":
        return 1.0 - opinion.max_detection
    if opinion.p_lmaf is None:
        return 0.0
    return opinion.p_lmaf if label == "lmaf" else 1.0 - opinion.p_lmaf


def difficulty_bin(
    label: str, opinion: ModelOpinion, *, easy: float = 0.8, moderate: float = 0.6
) -> str:
    """``"easy"``, ``"moderate"`` or ``"hard"`` from :func:`confidence_in_truth`.

    Args:
        label: the true class.
        opinion: the model's outputs.
        easy: confidence at or above which a case is easy.
        moderate: confidence at or above which (and below ``easy``) a case is moderate.

    Returns:
        The bin.

    >>> difficulty_bin("sfo", ModelOpinion("LMAF", 0.7, 0.9))
    'hard'
    """
    c = confidence_in_truth(label, opinion)
    if c >= easy:
        return "easy"
    if c >= moderate:
        return "moderate"
    return "hard"
