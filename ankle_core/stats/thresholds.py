"""Choosing decision thresholds on validation data, and guarding against leakage.

A threshold chosen on some cases and evaluated on the same cases gives optimistic
sensitivity and specificity. Every data-driven :class:`Threshold` therefore records a
fingerprint of the cases it was chosen on (a SHA-256 of the sorted (truth, score) pairs,
so shuffling the rows does not hide them). :func:`ankle_core.stats.metrics.metrics_at` and
:func:`evaluate_operating_points` refuse to evaluate a threshold on those very cases
(:class:`ThresholdLeakageError`) unless ``allow_same_data=True`` is passed, which emits a
:class:`ThresholdLeakageWarning` and marks the result.

Candidate thresholds follow pROC: −inf, the midpoints between consecutive distinct
scores, +inf; a case is called positive when ``score >= threshold``.

References:
    Youden WJ (1950). Index for rating diagnostic tests. Cancer 3:32–35.
    Robin X et al. (2011). pROC. BMC Bioinformatics 12:77 (candidate thresholds).
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ankle_core.errors import InvalidInputError
from ankle_core.stats._result import Result
from ankle_core.stats._validate import as_binary_truth, as_scores, check_binary_task

__all__ = [
    "OperatingPoints",
    "OperatingPointsMetrics",
    "Threshold",
    "ThresholdLeakageError",
    "ThresholdLeakageWarning",
    "apply_operating_points",
    "apply_threshold",
    "check_leakage",
    "choose_operating_points",
    "choose_threshold",
    "data_fingerprint",
    "evaluate_operating_points",
]

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Method = Literal["fixed", "youden", "max_accuracy", "sensitivity", "specificity"]


class ThresholdLeakageError(InvalidInputError):
    """Raised when a threshold is evaluated on the very cases it was chosen on."""


class ThresholdLeakageWarning(UserWarning):
    """Emitted when such an evaluation is explicitly allowed (``allow_same_data=True``)."""


def data_fingerprint(y: npt.ArrayLike, score: npt.ArrayLike) -> str:
    """SHA-256 of the (truth, score) pairs, independent of row order.

    Args:
        y: Shape (N,), 0/1 truth.
        score: Shape (N,), scores.

    Returns:
        64 hex characters.
    """
    truth = as_binary_truth(y)
    s = as_scores(score, truth.size)
    order = np.lexsort((s, truth))
    h = hashlib.sha256()
    h.update(truth[order].astype(np.int8).tobytes())
    h.update(np.ascontiguousarray(s[order], dtype="<f8").tobytes())
    return h.hexdigest()


def check_leakage(
    chosen_on: str | None, y: npt.ArrayLike, score: npt.ArrayLike, allow_same_data: bool
) -> bool:
    """Refuse (or loudly allow) evaluating a threshold on the data it was chosen on.

    Args:
        chosen_on: The threshold's fingerprint, or ``None`` for a fixed threshold.
        y: Shape (N,), truth of the evaluation data.
        score: Shape (N,), scores of the evaluation data.
        allow_same_data: If True, warn instead of raising.

    Returns:
        True when the evaluation data are the selection data (only if allowed).

    Raises:
        ThresholdLeakageError: same data and ``allow_same_data`` is False.
    """
    if chosen_on is None or data_fingerprint(y, score) != chosen_on:
        return False
    msg = (
        "this threshold was chosen on these same cases: metrics will be optimistic. "
        "Choose thresholds on a validation set and evaluate on a separate test set."
    )
    if not allow_same_data:
        raise ThresholdLeakageError(msg + " Pass allow_same_data=True to do it anyway.")
    logger.warning("LEAKAGE: %s", msg)
    warnings.warn(msg, ThresholdLeakageWarning, stacklevel=3)
    return True


@dataclass(frozen=True)
class Threshold(Result):
    """A decision threshold and where it came from.

    Attributes:
        value: Call positive when ``score >= value`` (may be ±inf).
        method: ``fixed``, ``youden``, ``max_accuracy``, ``sensitivity`` or ``specificity``.
        target: The target rate for ``sensitivity``/``specificity``, else None.
        chosen_on: Fingerprint of the selection data (:func:`data_fingerprint`); None for
            a fixed threshold.
        n_cases: Number of selection cases (0 for fixed).
        sensitivity: Sensitivity on the selection data (NaN for fixed).
        specificity: Specificity on the selection data (NaN for fixed).
    """

    value: float
    method: str
    target: float | None
    chosen_on: str | None
    n_cases: int
    sensitivity: float
    specificity: float


def _candidates(truth: IntArray, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Candidate thresholds (ascending) with the sensitivity and specificity of each."""
    levels, codes = np.unique(s, return_inverse=True)
    k = levels.size
    pos = np.bincount(codes[truth == 1], minlength=k)
    neg = np.bincount(codes[truth == 0], minlength=k)
    # candidate i (0..k) calls positive every level >= i
    tp = np.r_[np.cumsum(pos[::-1])[::-1], 0]
    fp = np.r_[np.cumsum(neg[::-1])[::-1], 0]
    m, n = pos.sum(), neg.sum()
    thresholds = np.r_[-np.inf, (levels[:-1] + levels[1:]) / 2.0, np.inf]
    return thresholds, tp / m, 1.0 - fp / n


def choose_threshold(
    y: npt.ArrayLike | None = None,
    score: npt.ArrayLike | None = None,
    *,
    method: Method = "youden",
    target: float | None = None,
    value: float = 0.5,
) -> Threshold:
    """Choose a threshold on validation data.

    - ``fixed``: ``value`` (no data needed, nothing to leak);
    - ``youden``: maximise sensitivity + specificity − 1 (Youden 1950);
    - ``max_accuracy``: maximise (TP + TN)/N;
    - ``sensitivity``: the highest threshold with sensitivity ≥ ``target`` (it then has the
      best specificity among those);
    - ``specificity``: the lowest threshold with specificity ≥ ``target``.

    Ties between equally good thresholds go to the one with the higher sensitivity (the
    lower threshold): missing a fracture is the costlier error.

    Args:
        y: Shape (N,), validation truth (not needed for ``fixed``).
        score: Shape (N,), validation scores.
        method: See above.
        target: The rate for ``sensitivity``/``specificity``, in (0, 1].
        value: The threshold for ``fixed``.

    Returns:
        A frozen :class:`Threshold` carrying the fingerprint of (y, score).

    Example:
        >>> t = choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], method="max_accuracy")
        >>> round(t.value, 3), t.sensitivity, t.specificity
        (0.225, 1.0, 0.5)
    """
    if method == "fixed":
        return Threshold(float(value), "fixed", None, None, 0, float("nan"), float("nan"))
    if y is None or score is None:
        raise InvalidInputError(f"the {method!r} threshold needs validation truth and scores.")
    truth, (s,) = check_binary_task(y, score, min_per_class=1)
    thr, sens, spec = _candidates(truth, s)
    if method == "youden":
        objective = sens + spec - 1.0
    elif method == "max_accuracy":
        m = truth.sum()
        objective = (sens * m + spec * (truth.size - m)) / truth.size
    elif method in ("sensitivity", "specificity"):
        if target is None or not 0.0 < float(target) <= 1.0:
            raise InvalidInputError(f"method {method!r} needs a target rate in (0, 1].")
        rate = sens if method == "sensitivity" else spec
        ok = np.flatnonzero(rate >= float(target) - 1e-12)
        i = int(ok.max() if method == "sensitivity" else ok.min())
        return Threshold(
            float(thr[i]),
            method,
            float(target),
            data_fingerprint(truth, s),
            truth.size,
            float(sens[i]),
            float(spec[i]),
        )
    else:
        raise InvalidInputError(f"unknown threshold method {method!r}.")
    best = np.flatnonzero(np.isclose(objective, objective.max(), rtol=0.0, atol=1e-12))
    i = int(best.min())
    return Threshold(
        float(thr[i]),
        method,
        None,
        data_fingerprint(truth, s),
        truth.size,
        float(sens[i]),
        float(spec[i]),
    )


def apply_threshold(score: npt.ArrayLike, threshold: Threshold | float) -> IntArray:
    """Binary calls: 1 where ``score >= threshold``.

    Args:
        score: Shape (N,), scores.
        threshold: A :class:`Threshold` or a number.

    Returns:
        Shape (N,), int64 0/1.
    """
    t = threshold.value if isinstance(threshold, Threshold) else float(threshold)
    return (as_scores(score) >= t).astype(np.int64)


@dataclass(frozen=True)
class OperatingPoints(Result):
    """A rule-out and a rule-in threshold with an indeterminate band between them.

    Scores below ``rule_out.value`` are called negative, scores at or above
    ``rule_in.value`` positive, and the rest indeterminate.

    Attributes:
        rule_out: The high-sensitivity (lower) threshold.
        rule_in: The high-specificity (higher) threshold.
        collapsed: True when one threshold met both targets on the selection data, so the
            band is empty (both thresholds equal).
    """

    rule_out: Threshold
    rule_in: Threshold
    collapsed: bool


def choose_operating_points(
    y: npt.ArrayLike, score: npt.ArrayLike, *, sensitivity: float = 0.95, specificity: float = 0.95
) -> OperatingPoints:
    """Choose a high-sensitivity and a high-specificity threshold on validation data.

    Args:
        y: Shape (N,), validation truth.
        score: Shape (N,), validation scores.
        sensitivity: Target sensitivity of the rule-out threshold.
        specificity: Target specificity of the rule-in threshold.

    Returns:
        The pair. If the rule-in threshold lies below the rule-out one, the rule-in
        threshold alone meets both targets and is used for both (``collapsed=True``).
    """
    low = choose_threshold(y, score, method="sensitivity", target=sensitivity)
    high = choose_threshold(y, score, method="specificity", target=specificity)
    if high.value <= low.value:
        return OperatingPoints(rule_out=high, rule_in=high, collapsed=True)
    return OperatingPoints(rule_out=low, rule_in=high, collapsed=False)


def apply_operating_points(score: npt.ArrayLike, points: OperatingPoints) -> IntArray:
    """Three-way calls: 1 positive, 0 negative, −1 indeterminate.

    Args:
        score: Shape (N,), scores.
        points: The operating points.

    Returns:
        Shape (N,), int64 in {−1, 0, 1}.
    """
    s = as_scores(score)
    out = np.full(s.size, -1, dtype=np.int64)
    out[s < points.rule_out.value] = 0
    out[s >= points.rule_in.value] = 1
    return out


@dataclass(frozen=True)
class OperatingPointsMetrics(Result):
    """How a pair of operating points performs on test data.

    Attributes:
        n: Cases.
        n_indeterminate: Cases in the band.
        indeterminate_fraction: n_indeterminate / n.
        indeterminate_fraction_pos: Share of positives in the band.
        indeterminate_fraction_neg: Share of negatives in the band.
        rule_out_sensitivity: Share of positives not called negative.
        rule_out_npv: Negatives among the cases called negative (NaN if none).
        rule_in_specificity: Share of negatives not called positive.
        rule_in_ppv: Positives among the cases called positive (NaN if none).
        accuracy_determinate: Accuracy among the cases outside the band (NaN if none).
        same_data_as_threshold: True if evaluated on the selection data (optimistic).
    """

    n: int
    n_indeterminate: int
    indeterminate_fraction: float
    indeterminate_fraction_pos: float
    indeterminate_fraction_neg: float
    rule_out_sensitivity: float
    rule_out_npv: float
    rule_in_specificity: float
    rule_in_ppv: float
    accuracy_determinate: float
    same_data_as_threshold: bool


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")


def evaluate_operating_points(
    y: npt.ArrayLike,
    score: npt.ArrayLike,
    points: OperatingPoints,
    *,
    allow_same_data: bool = False,
) -> OperatingPointsMetrics:
    """Evaluate rule-out/rule-in thresholds on test data (refusing the selection data).

    Args:
        y: Shape (N,), test truth.
        score: Shape (N,), test scores.
        points: Chosen on validation data.
        allow_same_data: Evaluate on the selection data anyway (warns loudly).

    Returns:
        The metrics.
    """
    truth, (s,) = check_binary_task(y, score, min_per_class=1)
    same = check_leakage(points.rule_out.chosen_on, truth, s, allow_same_data)
    calls = apply_operating_points(s, points)
    pos, neg = truth == 1, truth == 0
    ind = calls == -1
    det = ~ind
    called_neg, called_pos = calls == 0, calls == 1
    return OperatingPointsMetrics(
        n=int(truth.size),
        n_indeterminate=int(ind.sum()),
        indeterminate_fraction=float(ind.mean()),
        indeterminate_fraction_pos=_ratio(np.sum(ind & pos), pos.sum()),
        indeterminate_fraction_neg=_ratio(np.sum(ind & neg), neg.sum()),
        rule_out_sensitivity=_ratio(np.sum(pos & ~called_neg), pos.sum()),
        rule_out_npv=_ratio(np.sum(called_neg & neg), called_neg.sum()),
        rule_in_specificity=_ratio(np.sum(neg & ~called_pos), neg.sum()),
        rule_in_ppv=_ratio(np.sum(called_pos & pos), called_pos.sum()),
        accuracy_determinate=_ratio(np.sum(det & (calls == truth)), det.sum()),
        same_data_as_threshold=same,
    )
