"""Classification metrics at a threshold, with Wilson and optional bootstrap intervals.

A case is called positive when ``score >= threshold``. Proportions get Wilson (1927)
score intervals; F1 is not a binomial proportion, so it gets only the bootstrap interval.
The bootstrap is stratified by class (percentile limits), like the AUC bootstrap, and drawn
in chunks of replicates, so its memory is flat in B and N (:func:`resampled_sums`).

References:
    Wilson EB (1927). Probable inference, the law of succession, and statistical inference.
    J Am Stat Assoc 22:209–212.
    Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap (percentile method).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from ankle_core.errors import InvalidInputError
from ankle_core.stats._result import Result
from ankle_core.stats._validate import as_level, check_binary_task
from ankle_core.stats.bootstrap import resampled_sums
from ankle_core.stats.thresholds import Threshold, check_leakage

__all__ = ["Metric", "ThresholdMetrics", "metrics_at", "wilson_interval"]

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]


def wilson_interval(successes: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson (1927) score interval for a binomial proportion.

    Args:
        successes: Count k, 0 ≤ k ≤ n.
        total: Count n; an empty total gives (NaN, NaN).
        level: Coverage.

    Returns:
        ``(low, high)`` in [0, 1].

    Example:
        >>> [round(v, 4) for v in wilson_interval(8, 10)]
        [0.4902, 0.9433]
    """
    if total <= 0:
        return float("nan"), float("nan")
    if not 0 <= successes <= total:
        raise InvalidInputError(f"successes must lie in 0..{total}; got {successes}.")
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    p = successes / total
    denom = 1.0 + z * z / total
    centre = (p + z * z / (2.0 * total)) / denom
    half = z * np.sqrt(p * (1.0 - p) / total + z * z / (4.0 * total * total)) / denom
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


@dataclass(frozen=True)
class Metric(Result):
    """One metric with its intervals.

    Attributes:
        value: Point estimate (NaN when undefined, e.g. PPV with no positive calls).
        numerator: Count in the numerator (2·TP for F1).
        denominator: Count in the denominator.
        wilson_low: Wilson lower limit (NaN for F1).
        wilson_high: Wilson upper limit (NaN for F1).
        boot_low: Bootstrap percentile lower limit (NaN without bootstrap).
        boot_high: Bootstrap percentile upper limit.
    """

    value: float
    numerator: int
    denominator: int
    wilson_low: float
    wilson_high: float
    boot_low: float
    boot_high: float


@dataclass(frozen=True)
class ThresholdMetrics(Result):
    """Metrics of binary calls ``score >= threshold`` against the truth.

    Attributes:
        threshold: The threshold value.
        threshold_method: How it was chosen (``fixed`` for a plain number).
        tp: True positives.
        fp: False positives.
        tn: True negatives.
        fn: False negatives.
        accuracy: (TP + TN)/N.
        sensitivity: TP/(TP + FN) (recall).
        specificity: TN/(TN + FP).
        ppv: TP/(TP + FP) (precision).
        npv: TN/(TN + FN).
        f1: 2TP/(2TP + FP + FN).
        level: Coverage of the intervals.
        n_boot: Bootstrap replicates (0 = none).
        same_data_as_threshold: True when evaluated on the threshold's selection data.
    """

    threshold: float
    threshold_method: str
    tp: int
    fp: int
    tn: int
    fn: int
    accuracy: Metric
    sensitivity: Metric
    specificity: Metric
    ppv: Metric
    npv: Metric
    f1: Metric
    level: float
    n_boot: int
    same_data_as_threshold: bool


def _metric(
    num: int, den: int, level: float, boot: FloatArray | None, wilson: bool = True
) -> Metric:
    value = num / den if den > 0 else float("nan")
    lo, hi = wilson_interval(num, den, level) if wilson else (float("nan"), float("nan"))
    blo = bhi = float("nan")
    if boot is not None and np.isfinite(boot).any():
        alpha = (1.0 - level) / 2.0
        blo, bhi = (float(v) for v in np.nanquantile(boot, [alpha, 1.0 - alpha]))
    return Metric(float(value), int(num), int(den), lo, hi, blo, bhi)


def _safe_div(a: FloatArray, b: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def metrics_at(
    y: npt.ArrayLike,
    score: npt.ArrayLike,
    threshold: Threshold | float,
    *,
    level: float = 0.95,
    n_boot: int = 0,
    rng: np.random.Generator | None = None,
    allow_same_data: bool = False,
) -> ThresholdMetrics:
    """Accuracy, sensitivity, specificity, PPV, NPV and F1 at a threshold.

    Each proportion gets a Wilson (1927) interval; with ``n_boot > 0`` every metric also
    gets a stratified bootstrap percentile interval. A :class:`Threshold` chosen on these
    very cases is refused (see :mod:`ankle_core.stats.thresholds`).

    Args:
        y: Shape (N,), 0/1 truth.
        score: Shape (N,), scores (or 0/1 calls with threshold 0.5).
        threshold: A :class:`Threshold` from validation data, or a number.
        level: Coverage of the intervals.
        n_boot: Bootstrap replicates (0 for none).
        rng: Required when ``n_boot > 0``.
        allow_same_data: Evaluate a threshold on its own selection data (warns loudly).

    Returns:
        The metrics, counts and intervals.

    Example:
        >>> r = metrics_at([0, 0, 1, 1, 1], [0.2, 0.6, 0.7, 0.9, 0.4], 0.5)
        >>> r.tp, r.fp, r.sensitivity.value
        (2, 1, 0.6666666666666666)
    """
    level = as_level(level)
    truth, (s,) = check_binary_task(y, score, min_per_class=1)
    if isinstance(threshold, Threshold):
        same = check_leakage(threshold.chosen_on, truth, s, allow_same_data)
        t, method = threshold.value, threshold.method
    else:
        same, t, method = False, float(threshold), "fixed"
    calls = s >= t
    pos = truth == 1
    tp = int(np.sum(calls & pos))
    fn = int(np.sum(~calls & pos))
    fp = int(np.sum(calls & ~pos))
    tn = int(np.sum(~calls & ~pos))
    boots: dict[str, FloatArray | None] = dict.fromkeys(
        ("acc", "sens", "spec", "ppv", "npv", "f1"), None
    )
    if n_boot > 0:
        if rng is None:
            raise InvalidInputError("bootstrap intervals need an explicit rng.")
        # positives' replicates first, then negatives', in row chunks: the same draws as
        # (B, m) and (B, n) index matrices, without holding them (flat memory in B)
        btp = resampled_sums(calls[pos], n_boot, rng)
        bfp = resampled_sums(calls[~pos], n_boot, rng)
        m, n = float(np.sum(pos)), float(np.sum(~pos))
        bfn, btn = m - btp, n - bfp
        boots = {
            "acc": (btp + btn) / (m + n),
            "sens": btp / m,
            "spec": btn / n,
            "ppv": _safe_div(btp, btp + bfp),
            "npv": _safe_div(btn, btn + bfn),
            "f1": _safe_div(2 * btp, 2 * btp + bfp + bfn),
        }
    return ThresholdMetrics(
        threshold=float(t),
        threshold_method=method,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        accuracy=_metric(tp + tn, truth.size, level, boots["acc"]),
        sensitivity=_metric(tp, tp + fn, level, boots["sens"]),
        specificity=_metric(tn, tn + fp, level, boots["spec"]),
        ppv=_metric(tp, tp + fp, level, boots["ppv"]),
        npv=_metric(tn, tn + fn, level, boots["npv"]),
        f1=_metric(2 * tp, 2 * tp + fp + fn, level, boots["f1"], wilson=False),
        level=level,
        n_boot=int(n_boot),
        same_data_as_threshold=same,
    )
