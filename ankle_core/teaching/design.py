"""A reader study's design: rating scales, the two reading designs, each reader's plan.

Designs (every reader reads every case without and with the AI, so the study is fully
crossed as the Obuchowski–Rockette analysis needs):

- ``"same-sitting"``: each case is read unaided, the rating is locked, then the same case is
  read aided (the AI's boxes, probabilities, calls and saliency) at once.
- ``"washout"``: all cases unaided in one session; after a washout period (days) all cases
  aided, in a second, independent random order.

Each reader's order comes from :func:`reading_plan` with a seed recorded in the store.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ankle_core.errors import InvalidInputError

__all__ = [
    "CONDITIONS",
    "DESIGNS",
    "SCALES",
    "RatingScale",
    "Step",
    "aided_opens_at",
    "next_step",
    "reading_plan",
]

#: Reading conditions, in reading order.
CONDITIONS: tuple[str, str] = ("unaided", "aided")
#: Study designs.
DESIGNS: tuple[str, str] = ("same-sitting", "washout")


@dataclass(frozen=True)
class RatingScale:
    """A confidence scale for "this is an LMAF".

    Attributes:
        name: ``"5-point"`` or ``"0-100"``.
        low: lowest rating.
        high: highest rating.
        threshold: a rating at or above it is an LMAF call.
        labels: the 5-point scale's words (empty for 0–100).
    """

    name: str
    low: int
    high: int
    threshold: float
    labels: tuple[str, ...] = ()

    def check(self, rating: float) -> float:
        """The rating as a float, or InvalidInputError when it is off the scale."""
        value = float(rating)
        if not self.low <= value <= self.high:
            raise InvalidInputError(
                f"A rating on the {self.name} scale lies in {self.low}–{self.high}."
            )
        if self.labels and value != round(value):
            raise InvalidInputError(f"The {self.name} scale takes whole numbers.")
        return value

    def call(self, rating: float) -> int:
        """1 (LMAF) when ``rating >= threshold``, else 0."""
        return int(float(rating) >= self.threshold)


SCALES: dict[str, RatingScale] = {
    "5-point": RatingScale(
        "5-point",
        1,
        5,
        4.0,
        (
            "1 · definitely not an LMAF",
            "2 · probably not an LMAF",
            "3 · uncertain",
            "4 · probably an LMAF",
            "5 · definitely an LMAF",
        ),
    ),
    "0-100": RatingScale("0-100", 0, 100, 50.0),
}


@dataclass(frozen=True)
class Step:
    """One reading: a case under a condition, at a position of the reader's plan."""

    position: int
    case_id: str
    condition: str


def reading_plan(case_ids: Sequence[str], design: str, seed: int) -> tuple[Step, ...]:
    """A reader's plan: every case unaided and aided, in a random order from ``seed``.

    Args:
        case_ids: the study's cases.
        design: ``"same-sitting"`` or ``"washout"``.
        seed: the reader's recorded seed (the same seed always gives the same plan).

    Returns:
        ``2 * len(case_ids)`` steps.

    Raises:
        InvalidInputError: for an unknown design.

    >>> [(s.case_id, s.condition) for s in reading_plan(["a"], "same-sitting", 0)]
    [('a', 'unaided'), ('a', 'aided')]
    """
    if design not in DESIGNS:
        raise InvalidInputError(f"A design is one of {DESIGNS}, not {design!r}.")
    rng = random.Random(seed)
    first = list(case_ids)
    rng.shuffle(first)
    if design == "same-sitting":
        pairs = [(c, cond) for c in first for cond in CONDITIONS]
    else:
        second = list(case_ids)
        rng.shuffle(second)
        pairs = [(c, "unaided") for c in first] + [(c, "aided") for c in second]
    return tuple(Step(i, c, cond) for i, (c, cond) in enumerate(pairs))


def next_step(plan: Sequence[Step], done: Collection[tuple[str, str]]) -> Step | None:
    """The first step of the plan without a stored rating.

    Args:
        plan: from :func:`reading_plan`.
        done: ``(case_id, condition)`` pairs already rated.

    Returns:
        The step, or None when the plan is complete.
    """
    for step in plan:
        if (step.case_id, step.condition) not in done:
            return step
    return None


def aided_opens_at(
    design: str, washout_days: float, last_unaided: datetime | None
) -> datetime | None:
    """When the aided session opens under the washout design.

    Args:
        design: the study design.
        washout_days: the washout period in days.
        last_unaided: time of the reader's last unaided rating (after finishing them all).

    Returns:
        The opening time, or None when aided readings are not gated (same sitting, or no
        washout).
    """
    if design != "washout" or washout_days <= 0 or last_unaided is None:
        return None
    return last_unaided + timedelta(days=washout_days)
