"""ROC curves, AUC with confidence intervals, and bootstrap confidence bands.

Conventions (shared by the whole package): the positive class is 1; a higher score means
"more likely positive"; a case is called positive when ``score >= threshold``; a tie
between a positive and a negative counts 1/2, so the AUC is the Mann–Whitney statistic and
equals the trapezoidal area under the empirical curve (as in pROC and scikit-learn). The
direction is never flipped automatically: an AUC below 0.5 is reported as such.

References:
    DeLong ER et al. (1988) Biometrics 44:837–845 (variance of the AUC).
    Sun X, Xu W (2014) IEEE Signal Process Lett 21:1389–1393 (fast algorithm).
    Efron B (1987) J Am Stat Assoc 82:171–185 (BCa intervals).
    Robin X et al. (2011) pROC. BMC Bioinformatics 12:77 (stratified bootstrap, bands).
    Campbell G (1994) Advances in statistical methodology for the evaluation of diagnostic
    and laboratory tests. Stat Med 13:499–508 (simultaneous bootstrap bands).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from ankle_core.errors import InvalidInputError
from ankle_core.stats._result import Result, frozen_array
from ankle_core.stats._validate import as_level, check_binary_task
from ankle_core.stats.bootstrap import (
    bca_interval,
    bootstrap_auc,
    iter_level_counts,
    jackknife_auc,
    percentile_interval,
)
from ankle_core.stats.delong import delong_covariance

__all__ = [
    "AucWithCI",
    "RocBand",
    "RocCurve",
    "auc_ci",
    "auc_score",
    "interpolate_tpr",
    "roc_band",
    "roc_curve",
]

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]
CiMethod = Literal["delong", "bootstrap", "bca"]


@dataclass(frozen=True)
class RocCurve(Result):
    """An empirical ROC curve with every distinct score as a threshold.

    Attributes:
        fpr: Shape (K + 1,), false-positive rate (1 − specificity) at each threshold.
        tpr: Shape (K + 1,), true-positive rate (sensitivity).
        thresholds: Shape (K + 1,), descending; ``thresholds[0] = +inf`` (nothing called
            positive), then each distinct score (``score >= t`` is called positive).
        auc: Area under the curve (trapezoidal = Mann–Whitney, ties 1/2).
        n_pos: Number of positive cases.
        n_neg: Number of negative cases.
    """

    fpr: FloatArray
    tpr: FloatArray
    thresholds: FloatArray
    auc: float
    n_pos: int
    n_neg: int


def roc_curve(y: npt.ArrayLike, score: npt.ArrayLike) -> RocCurve:
    """Compute the empirical ROC curve (same points as scikit-learn with
    ``drop_intermediate=False``).

    Args:
        y: Shape (N,), 0/1 truth (1 = positive).
        score: Shape (N,), finite scores, higher = more likely positive.

    Returns:
        The curve, starting at (0, 0) and ending at (1, 1).

    Example:
        >>> roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]).tpr.tolist()
        [0.0, 0.5, 0.5, 1.0, 1.0]
    """
    truth, (s,) = check_binary_task(y, score, min_per_class=1)
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    t_sorted = truth[order]
    last_of_level = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tp = np.cumsum(t_sorted)[last_of_level]
    fp = (last_of_level + 1) - tp
    m, n = int(truth.sum()), int(truth.size - truth.sum())
    fpr = np.r_[0.0, fp / n]
    tpr = np.r_[0.0, tp / m]
    return RocCurve(
        fpr=frozen_array(fpr),
        tpr=frozen_array(tpr),
        thresholds=frozen_array(np.r_[np.inf, s_sorted[last_of_level]]),
        auc=float(np.trapezoid(tpr, fpr)),
        n_pos=m,
        n_neg=n,
    )


def auc_score(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """AUC as the Mann–Whitney statistic with midranks (ties count 1/2).

    Args:
        y: Shape (N,), 0/1 truth.
        score: Shape (N,), scores.

    Returns:
        P(score_pos > score_neg) + ½·P(score_pos = score_neg), in [0, 1].

    Example:
        >>> auc_score([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.8])
        0.875
    """
    truth, (s,) = check_binary_task(y, score, min_per_class=1)
    ranks = stats.rankdata(s)
    m = int(truth.sum())
    n = truth.size - m
    return float((ranks[truth == 1].sum() - m * (m + 1) / 2.0) / (m * n))


@dataclass(frozen=True)
class AucWithCI(Result):
    """An AUC with its confidence interval.

    Attributes:
        auc: Point estimate.
        ci_low: Lower limit.
        ci_high: Upper limit.
        level: Coverage, e.g. 0.95.
        method: ``delong`` (normal approximation with DeLong's variance, clipped to
            [0, 1] as pROC does), ``bootstrap`` (stratified percentile) or ``bca``.
        se: DeLong standard error (``delong``) or bootstrap standard deviation.
        n_boot: Bootstrap replicates (0 for ``delong``).
        n_pos: Positive cases.
        n_neg: Negative cases.
    """

    auc: float
    ci_low: float
    ci_high: float
    level: float
    method: str
    se: float
    n_boot: int
    n_pos: int
    n_neg: int


def auc_ci(
    y: npt.ArrayLike,
    score: npt.ArrayLike,
    *,
    method: CiMethod = "delong",
    level: float = 0.95,
    n_boot: int = 2000,
    rng: np.random.Generator | None = None,
) -> AucWithCI:
    """AUC with a DeLong or stratified-bootstrap (percentile or BCa) confidence interval.

    ``delong``: AUC ± z·se with DeLong's (1988) variance by Sun & Xu's (2014) algorithm.
    ``bootstrap``: percentile interval of B stratified replicates (pROC's default).
    ``bca``: Efron's (1987) BCa interval, acceleration from the exact leave-one-out AUCs
    of each class (the two strata).

    Args:
        y: Shape (N,), 0/1 truth.
        score: Shape (N,), scores.
        method: ``delong``, ``bootstrap`` or ``bca``.
        level: Coverage of the interval.
        n_boot: Replicates for the bootstrap methods (e.g. 1,000 or 10,000).
        rng: Required for the bootstrap methods; the only source of randomness.

    Returns:
        The AUC and its interval.
    """
    level = as_level(level)
    truth, (s,) = check_binary_task(y, score)
    m = int(truth.sum())
    n = truth.size - m
    aucs, cov = delong_covariance(truth, s)
    auc = float(aucs[0])
    if method == "delong":
        se = float(np.sqrt(max(cov[0, 0], 0.0)))
        q = float(stats.norm.ppf(0.5 + level / 2.0))
        lo, hi = max(auc - q * se, 0.0), min(auc + q * se, 1.0)
        return AucWithCI(auc, lo, hi, level, "delong", se, 0, m, n)
    if method not in ("bootstrap", "bca"):
        raise InvalidInputError(f"unknown CI method {method!r}; use delong, bootstrap or bca.")
    if rng is None:
        raise InvalidInputError("a bootstrap CI needs an explicit rng=np.random.default_rng(seed).")
    boot = bootstrap_auc(truth, s, n_boot, rng)
    if method == "bootstrap":
        lo, hi = percentile_interval(boot, level)
    else:
        jack = jackknife_auc(truth, s)
        lo, hi = bca_interval(auc, boot, [jack[truth == 1], jack[truth == 0]], level)
    return AucWithCI(auc, lo, hi, level, method, float(np.std(boot, ddof=1)), int(n_boot), m, n)


def interpolate_tpr(fpr: FloatArray, tpr: FloatArray, grid: FloatArray) -> FloatArray:
    """Sensitivity of many ROC curves at fixed false-positive rates, vectorised.

    Between ROC points the curve is linear; on a vertical segment (several points at the
    same FPR) the highest TPR is taken.

    Args:
        fpr: Shape (b, L), each row non-decreasing from 0 to 1.
        tpr: Shape (b, L), each row non-decreasing.
        grid: Shape (G,), FPR values in [0, 1].

    Returns:
        Shape (b, G).
    """
    fpr = np.atleast_2d(fpr)
    tpr = np.atleast_2d(tpr)
    b, length = fpr.shape
    offsets = 2.0 * np.arange(b)
    flat_x = (fpr + offsets[:, None]).ravel()
    queries = (grid[None, :] + offsets[:, None]).ravel()
    pos = np.searchsorted(flat_x, queries, side="right") - 1
    rows = np.repeat(np.arange(b), grid.size)
    j = pos - rows * length
    j = np.clip(j, 0, length - 1)
    j1 = np.minimum(j + 1, length - 1)
    x0, x1 = fpr[rows, j], fpr[rows, j1]
    y0, y1 = tpr[rows, j], tpr[rows, j1]
    g = np.tile(grid, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(x1 > x0, (g - x0) / (x1 - x0), 0.0)
    out = np.where(x0 >= g, y0, y0 + frac * (y1 - y0))
    return np.asarray(out.reshape(b, grid.size), dtype=np.float64)


@dataclass(frozen=True)
class RocBand(Result):
    """A bootstrap confidence band for sensitivity on a fixed FPR grid.

    Attributes:
        fpr_grid: Shape (G,), false-positive rates, ascending.
        tpr: Shape (G,), sensitivity of the observed curve at each grid point.
        tpr_low: Shape (G,), lower limit.
        tpr_high: Shape (G,), upper limit.
        level: Coverage (per point, or of the whole curve for ``simultaneous``).
        n_boot: Stratified replicates.
        kind: ``pointwise`` or ``simultaneous``.
    """

    fpr_grid: FloatArray
    tpr: FloatArray
    tpr_low: FloatArray
    tpr_high: FloatArray
    level: float
    n_boot: int
    kind: str


def roc_band(
    y: npt.ArrayLike,
    score: npt.ArrayLike,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
    fpr_grid: npt.ArrayLike | None = None,
    kind: Literal["pointwise", "simultaneous"] = "pointwise",
) -> RocBand:
    """Bootstrap confidence band of the ROC curve: sensitivity limits at fixed FPRs.

    Stratified replicates; each replicate's curve is read at every grid FPR
    (:func:`interpolate_tpr`).

    - ``pointwise``: percentile limits at each FPR, like pROC's
      ``ci.se(specificities = ...)``; each point has the stated coverage.
    - ``simultaneous``: a studentised max-deviation band (Campbell 1994): with sd(f) the
      bootstrap standard deviation at FPR f, c is the ``level`` quantile over replicates of
      max_f |TPR*_b(f) − TPR(f)| / sd(f), and the band is TPR(f) ± c·sd(f), clipped to
      [0, 1]. It covers the whole curve at once, so it is wider.

    Args:
        y: Shape (N,), 0/1 truth.
        score: Shape (N,), scores.
        rng: The random generator.
        n_boot: Replicates.
        level: Coverage.
        fpr_grid: Shape (G,) FPRs in [0, 1]; default 101 points 0, 0.01, ..., 1.
        kind: ``pointwise`` or ``simultaneous``.

    Returns:
        The band.
    """
    level = as_level(level)
    truth, (s,) = check_binary_task(y, score)
    grid = (
        np.linspace(0.0, 1.0, 101) if fpr_grid is None else np.asarray(fpr_grid, dtype=np.float64)
    )
    if grid.ndim != 1 or (grid < 0).any() or (grid > 1).any():
        raise InvalidInputError("fpr_grid must be a 1-D array of rates in [0, 1].")
    grid = np.sort(grid)
    curve = roc_curve(truth, s)
    observed = interpolate_tpr(curve.fpr[None, :], curve.tpr[None, :], grid)[0]
    rows = []
    for counts in iter_level_counts(truth, s, n_boot, rng):
        fpr, tpr = counts.roc_points()
        rows.append(interpolate_tpr(fpr, tpr, grid))
    sampled = np.vstack(rows)
    if kind == "pointwise":
        alpha = (1.0 - level) / 2.0
        lo, hi = np.quantile(sampled, [alpha, 1.0 - alpha], axis=0)
    elif kind == "simultaneous":
        sd = sampled.std(axis=0, ddof=1)
        safe = np.where(sd > 0, sd, 1.0)
        dev = np.where(sd > 0, np.abs(sampled - observed) / safe, 0.0).max(axis=1)
        c = float(np.quantile(dev, level))
        lo, hi = np.clip(observed - c * sd, 0.0, 1.0), np.clip(observed + c * sd, 0.0, 1.0)
    else:
        raise InvalidInputError(f"unknown band kind {kind!r}; use pointwise or simultaneous.")
    return RocBand(
        fpr_grid=frozen_array(grid),
        tpr=frozen_array(observed),
        tpr_low=frozen_array(lo),
        tpr_high=frozen_array(hi),
        level=level,
        n_boot=int(n_boot),
        kind=kind,
    )
