"""Input checks shared by every statistic; each failure raises ``InvalidInputError``.

Conventions checked here and relied on everywhere else in ``ankle_core.stats``:

- truth is binary, ``1`` = positive (fracture), ``0`` = negative; booleans are accepted;
- scores are finite real numbers; a higher score means "more likely positive";
- all arrays of one call have the same length (one entry per case).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ankle_core.errors import InvalidInputError

__all__ = [
    "as_binary_truth",
    "as_calls",
    "as_level",
    "as_probabilities",
    "as_scores",
    "check_binary_task",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _as_1d(values: npt.ArrayLike, name: str) -> npt.NDArray[Any]:
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} could not be read as an array of numbers.") from exc
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be one-dimensional (one value per case).")
    if arr.size == 0:
        raise InvalidInputError(f"{name} is empty: at least one case is needed.")
    return arr


def as_binary_truth(y: npt.ArrayLike, name: str = "truth") -> IntArray:
    """Return ``y`` as an int64 array of 0/1, or raise ``InvalidInputError``.

    Args:
        y: Shape (n,). Booleans or numbers equal to 0 or 1; 1 is the positive class.
        name: How the message names the array.

    Returns:
        Shape (n,), int64, values in {0, 1}.
    """
    arr = _as_1d(y, name)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    try:
        num = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must hold 0 (negative) and 1 (positive).") from exc
    if np.isnan(num).any():
        raise InvalidInputError(f"{name} contains missing values (NaN).")
    if not np.isin(num, (0.0, 1.0)).all():
        bad = np.unique(num[~np.isin(num, (0.0, 1.0))])[:5]
        raise InvalidInputError(
            f"{name} must hold only 0 (negative) and 1 (positive); found {bad.tolist()}."
        )
    return num.astype(np.int64)


def as_scores(score: npt.ArrayLike, n: int | None = None, name: str = "score") -> FloatArray:
    """Return ``score`` as a finite float64 array, or raise ``InvalidInputError``.

    Args:
        score: Shape (n,). Real numbers; higher means more likely positive.
        n: The length the array must have, or ``None`` to skip that check.
        name: How the message names the array.

    Returns:
        Shape (n,), float64, all finite.
    """
    arr = _as_1d(score, name)
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    try:
        num = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must hold numbers.") from exc
    if n is not None and num.size != n:
        raise InvalidInputError(
            f"{name} has {num.size} values but the truth has {n}: lengths must match."
        )
    if np.isnan(num).any():
        raise InvalidInputError(
            f"{name} contains {int(np.isnan(num).sum())} missing values (NaN); "
            "drop or impute those cases first."
        )
    if not np.isfinite(num).all():
        raise InvalidInputError(f"{name} contains infinite values.")
    return num


def as_calls(calls: npt.ArrayLike, n: int | None = None, name: str = "calls") -> IntArray:
    """Return binary calls (predictions) as int64 0/1, checking the length.

    Args:
        calls: Shape (n,). 0/1 or booleans; 1 = called positive.
        n: The length the array must have, or ``None``.
        name: How the message names the array.

    Returns:
        Shape (n,), int64, values in {0, 1}.
    """
    arr = as_binary_truth(calls, name)
    if n is not None and arr.size != n:
        raise InvalidInputError(
            f"{name} has {arr.size} values but the truth has {n}: lengths must match."
        )
    return arr


def as_probabilities(
    p: npt.ArrayLike, n: int | None = None, name: str = "probability"
) -> FloatArray:
    """Return predicted probabilities, checking they lie in [0, 1].

    Args:
        p: Shape (n,). Probabilities of the positive class.
        n: The length the array must have, or ``None``.
        name: How the message names the array.

    Returns:
        Shape (n,), float64 in [0, 1].
    """
    arr = as_scores(p, n, name)
    if (arr < 0).any() or (arr > 1).any():
        raise InvalidInputError(
            f"{name} must be a probability in [0, 1] for calibration; "
            f"found values from {arr.min():.3g} to {arr.max():.3g}."
        )
    return arr


def as_level(level: float) -> float:
    """Check a confidence level such as 0.95.

    Args:
        level: Coverage of the interval, strictly between 0 and 1.

    Returns:
        ``level`` as a float.
    """
    if not 0.0 < float(level) < 1.0:
        raise InvalidInputError(f"the confidence level must lie in (0, 1); got {level}.")
    return float(level)


def check_binary_task(
    y: npt.ArrayLike,
    *scores: npt.ArrayLike,
    min_per_class: int = 2,
    names: tuple[str, ...] | None = None,
) -> tuple[IntArray, list[FloatArray]]:
    """Validate truth and any number of score arrays for a two-class ROC analysis.

    Args:
        y: Shape (n,), 0/1 truth (1 = positive).
        *scores: Each of shape (n,), finite, higher = more likely positive.
        min_per_class: The fewest cases each class must have (2: variances need them).
        names: Names of the score arrays for messages; defaults to ``score``, ``score_2``...

    Returns:
        The truth as int64 and the scores as float64 arrays.

    Raises:
        InvalidInputError: a single class, too few cases per class, NaN or infinite
            scores, or lengths that do not match.
    """
    truth = as_binary_truth(y)
    n_pos = int(truth.sum())
    n_neg = int(truth.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        only = "positive (1)" if n_neg == 0 else "negative (0)"
        raise InvalidInputError(
            f"the truth holds a single class (all {only}): an ROC analysis needs both."
        )
    if min(n_pos, n_neg) < min_per_class:
        raise InvalidInputError(
            f"at least {min_per_class} cases of each class are needed; "
            f"got {n_pos} positive and {n_neg} negative."
        )
    labels = names or tuple("score" if i == 0 else f"score_{i + 1}" for i in range(len(scores)))
    out = [as_scores(s, truth.size, labels[i]) for i, s in enumerate(scores)]
    return truth, out
