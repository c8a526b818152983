"""Calibration of predicted probabilities: reliability curve, Brier score, intercept and slope.

The calibration slope is β in logit P(y=1) = α + β·logit(p) (Cox 1958); the calibration
intercept ("calibration-in-the-large") is α in logit P(y=1) = α + logit(p), i.e. with the
slope fixed at 1 (an offset), as recommended by Van Calster et al. (2016). A perfectly
calibrated model has intercept 0 and slope 1. Both are maximum-likelihood fits by
Newton–Raphson with Wald intervals. Probabilities are clipped to [1e-12, 1 − 1e-12]
before the logit.

References:
    Cox DR (1958). Two further applications of a model for binary regression. Biometrika
    45:562–565.
    Brier GW (1950). Verification of forecasts expressed in terms of probability. Mon
    Weather Rev 78:1–3.
    Van Calster B et al. (2016). A calibration hierarchy for risk models was defined: from
    utopia to empirical data. J Clin Epidemiol 74:167–176.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from ankle_core.errors import InvalidInputError
from ankle_core.stats._result import Result, frozen_array
from ankle_core.stats._validate import as_level, as_probabilities, check_binary_task
from ankle_core.stats.metrics import wilson_interval

__all__ = [
    "CalibrationResult",
    "ReliabilityCurve",
    "brier_score",
    "calibration",
    "calibration_intercept_slope",
    "reliability_curve",
]

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]
_EPS = 1e-12


@dataclass(frozen=True)
class ReliabilityCurve(Result):
    """Observed frequency against mean predicted probability, per non-empty bin.

    Attributes:
        mean_predicted: Shape (B,), mean probability in each bin.
        observed: Shape (B,), share of positives in each bin.
        count: Shape (B,), cases per bin.
        observed_low: Shape (B,), Wilson lower limit of ``observed``.
        observed_high: Shape (B,), Wilson upper limit.
        bin_edges: Shape (n_bins + 1,), all edges (empty bins are dropped from the rest).
        strategy: ``uniform`` or ``quantile``.
    """

    mean_predicted: FloatArray
    observed: FloatArray
    count: npt.NDArray[np.int64]
    observed_low: FloatArray
    observed_high: FloatArray
    bin_edges: FloatArray
    strategy: str


def reliability_curve(
    y: npt.ArrayLike,
    p: npt.ArrayLike,
    *,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
    level: float = 0.95,
) -> ReliabilityCurve:
    """Reliability (calibration) curve, binned as scikit-learn's ``calibration_curve``.

    Inner bin edges are right-closed (a probability equal to an edge falls in the lower
    bin); empty bins are dropped.

    Args:
        y: Shape (N,), 0/1 truth.
        p: Shape (N,), predicted probabilities in [0, 1].
        n_bins: Number of bins.
        strategy: ``uniform`` (equal widths) or ``quantile`` (equal counts).
        level: Coverage of the Wilson intervals.

    Returns:
        The curve.
    """
    level = as_level(level)
    truth, _ = check_binary_task(y, min_per_class=1)
    prob = as_probabilities(p, truth.size)
    if n_bins < 1:
        raise InvalidInputError("n_bins must be at least 1.")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(prob, np.linspace(0.0, 100.0, n_bins + 1))
    else:
        raise InvalidInputError(f"unknown binning strategy {strategy!r}.")
    ids = np.searchsorted(edges[1:-1], prob)
    total = np.bincount(ids, minlength=n_bins)
    sums = np.bincount(ids, weights=prob, minlength=n_bins)
    hits = np.bincount(ids, weights=truth, minlength=n_bins)
    keep = total > 0
    cis = np.array(
        [
            wilson_interval(int(h), int(t), level)
            for h, t in zip(hits[keep], total[keep], strict=True)
        ]
    )
    return ReliabilityCurve(
        mean_predicted=frozen_array(sums[keep] / total[keep]),
        observed=frozen_array(hits[keep] / total[keep]),
        count=frozen_array(total[keep], np.int64),
        observed_low=frozen_array(cis[:, 0]),
        observed_high=frozen_array(cis[:, 1]),
        bin_edges=frozen_array(edges),
        strategy=strategy,
    )


def brier_score(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Brier (1950) score, the mean squared error of the probabilities.

    Args:
        y: Shape (N,), 0/1 truth.
        p: Shape (N,), probabilities in [0, 1].

    Returns:
        mean((p − y)²), in [0, 1]; lower is better.

    Example:
        >>> brier_score([0, 1], [0.2, 0.6])
        0.1
    """
    truth, _ = check_binary_task(y, min_per_class=1)
    prob = as_probabilities(p, truth.size)
    return float(np.round(np.mean((prob - truth) ** 2), 15))


def _logistic_fit(
    truth: FloatArray, x: FloatArray, offset: FloatArray, max_iter: int = 100
) -> tuple[FloatArray, FloatArray, bool]:
    """Newton–Raphson for logit P = offset + x @ beta; returns beta, covariance, converged."""
    beta = np.zeros(x.shape[1])
    converged = False
    info = np.eye(x.shape[1])
    for _ in range(max_iter):
        eta = offset + x @ beta
        mu = special.expit(eta)
        w = np.maximum(mu * (1.0 - mu), 1e-15)
        grad = x.T @ (truth - mu)
        info = (x * w[:, None]).T @ x
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            converged = True
            break
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full_like(info, np.nan)
    ok = converged and bool(np.all(np.isfinite(beta)))
    return np.asarray(beta, dtype=np.float64), np.asarray(cov, dtype=np.float64), ok


@dataclass(frozen=True)
class CalibrationResult(Result):
    """Calibration summary of predicted probabilities.

    Attributes:
        brier: Brier score.
        brier_reference: Brier score of always predicting the prevalence, π(1 − π).
        intercept: Calibration intercept α with slope fixed at 1 (0 is ideal).
        intercept_ci: Wald interval of α.
        slope: Calibration slope β (1 is ideal; < 1 means overfitted, too extreme).
        slope_ci: Wald interval of β.
        converged: False if a fit did not converge (e.g. perfect separation).
        curve: The reliability curve.
        level: Coverage of the intervals.
    """

    brier: float
    brier_reference: float
    intercept: float
    intercept_ci: tuple[float, float]
    slope: float
    slope_ci: tuple[float, float]
    converged: bool
    curve: ReliabilityCurve
    level: float


def calibration_intercept_slope(
    y: npt.ArrayLike, p: npt.ArrayLike, *, level: float = 0.95
) -> tuple[float, tuple[float, float], float, tuple[float, float], bool]:
    """Calibration intercept and slope by logistic recalibration on logit(p) (Cox 1958).

    Args:
        y: Shape (N,), 0/1 truth (both classes present).
        p: Shape (N,), probabilities in [0, 1].
        level: Coverage of the Wald intervals.

    Returns:
        ``(intercept, intercept_ci, slope, slope_ci, converged)``.
    """
    level = as_level(level)
    truth, _ = check_binary_task(y)
    prob = as_probabilities(p, truth.size)
    lp = special.logit(np.clip(prob, _EPS, 1.0 - _EPS))
    t = truth.astype(np.float64)
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    ones = np.ones((t.size, 1))
    a, cov_a, ok_a = _logistic_fit(t, ones, lp)
    b, cov_b, ok_b = _logistic_fit(t, np.column_stack([ones, lp]), np.zeros(t.size))
    if not (ok_a and ok_b):
        logger.warning("calibration fit did not converge (separation?); estimates unreliable")
    se_a = float(np.sqrt(cov_a[0, 0]))
    se_b = float(np.sqrt(cov_b[1, 1]))
    return (
        float(a[0]),
        (float(a[0] - z * se_a), float(a[0] + z * se_a)),
        float(b[1]),
        (float(b[1] - z * se_b), float(b[1] + z * se_b)),
        ok_a and ok_b,
    )


def calibration(
    y: npt.ArrayLike,
    p: npt.ArrayLike,
    *,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
    level: float = 0.95,
) -> CalibrationResult:
    """Full calibration summary: Brier score, intercept, slope and reliability curve.

    Args:
        y: Shape (N,), 0/1 truth.
        p: Shape (N,), probabilities in [0, 1].
        n_bins: Bins of the reliability curve.
        strategy: Binning of the reliability curve.
        level: Coverage of the intervals.

    Returns:
        The summary (Cox 1958; Brier 1950).
    """
    truth, _ = check_binary_task(y)
    prev = float(truth.mean())
    a, a_ci, b, b_ci, ok = calibration_intercept_slope(truth, p, level=level)
    return CalibrationResult(
        brier=brier_score(truth, p),
        brier_reference=prev * (1.0 - prev),
        intercept=a,
        intercept_ci=a_ci,
        slope=b,
        slope_ci=b_ci,
        converged=ok,
        curve=reliability_curve(truth, p, n_bins=n_bins, strategy=strategy, level=level),
        level=level,
    )
