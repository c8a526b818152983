"""DeLong's nonparametric comparison of ROC AUCs, with the fast algorithm of Sun & Xu.

Ties between a positive and a negative score count 1/2 (the Mann–Whitney convention), so
every AUC here equals scikit-learn's ``roc_auc_score``. Scores run "higher = more likely
positive"; the truth's positive class is 1.

References:
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more
    correlated receiver operating characteristic curves: a nonparametric approach.
    Biometrics 44:837–845.
    Sun X, Xu W (2014). Fast implementation of DeLong's algorithm for comparing the areas
    under correlated receiver operating characteristic curves. IEEE Signal Process Lett
    21(11):1389–1393.
    Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J Stat
    6:65–70.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from ankle_core.errors import InvalidInputError
from ankle_core.stats._result import Result, frozen_array
from ankle_core.stats._validate import as_level, check_binary_task

__all__ = [
    "DeLongComponents",
    "DeLongResult",
    "ModelComparison",
    "PairwiseDeLong",
    "compare_models",
    "delong_components",
    "delong_covariance",
    "delong_test",
    "delong_test_unpaired",
    "holm_adjust",
]

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DeLongComponents:
    """Structural components (placement values) of DeLong's method for k scores.

    Attributes:
        aucs: Shape (k,), the AUC of each score.
        v10: Shape (k, m): for each positive case, the fraction of negatives it outranks
            (ties 1/2).
        v01: Shape (k, n): for each negative case, the fraction of positives that outrank it.
    """

    aucs: FloatArray
    v10: FloatArray
    v01: FloatArray

    @property
    def covariance(self) -> FloatArray:
        """Shape (k, k): DeLong's covariance of the AUCs, S10/m + S01/n."""
        m = self.v10.shape[1]
        n = self.v01.shape[1]
        s10 = np.atleast_2d(np.cov(self.v10, ddof=1))
        s01 = np.atleast_2d(np.cov(self.v01, ddof=1))
        return np.asarray(s10 / m + s01 / n, dtype=np.float64)


def _midranks(x: FloatArray) -> FloatArray:
    """Midranks along the last axis (ties get the mean of their ranks), O(n log n)."""
    return np.asarray(stats.rankdata(x, method="average", axis=-1), dtype=np.float64)


def delong_components(y: npt.ArrayLike, scores: npt.ArrayLike) -> DeLongComponents:
    """Compute AUCs and placement values with the midrank algorithm of Sun & Xu (2014).

    Three sorts per score (all cases, positives, negatives) replace the O(m·n) pairwise
    comparisons of DeLong et al. (1988): for positive i, V10_i = (T_Z,i − T_X,i)/n, and for
    negative j, V01_j = 1 − (T_Z,j − T_Y,j)/m, where T are midranks.

    Args:
        y: Shape (N,), 0/1 truth.
        scores: Shape (N,) or (k, N): k score vectors on the same cases.

    Returns:
        The components; ``aucs`` has shape (k,).
    """
    arr = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    truth, checked = check_binary_task(
        y, *arr, names=tuple(f"score {i + 1}" for i in range(len(arr)))
    )
    mat = np.vstack(checked)
    pos = mat[:, truth == 1]
    neg = mat[:, truth == 0]
    m, n = pos.shape[1], neg.shape[1]
    tz = _midranks(np.concatenate([pos, neg], axis=1))
    tx = _midranks(pos)
    ty = _midranks(neg)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    aucs = v10.mean(axis=1)
    return DeLongComponents(aucs=aucs, v10=v10, v01=v01)


def delong_covariance(y: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """AUCs of k scores on the same cases and DeLong's (1988) covariance matrix.

    Args:
        y: Shape (N,), 0/1 truth.
        scores: Shape (k, N) or (N,).

    Returns:
        ``(aucs, cov)`` with shapes (k,) and (k, k).
    """
    comp = delong_components(y, scores)
    return comp.aucs, comp.covariance


@dataclass(frozen=True)
class DeLongResult(Result):
    """A DeLong test of AUC(a) − AUC(b) = 0.

    Attributes:
        auc_a: AUC of the first score.
        auc_b: AUC of the second score.
        difference: auc_a − auc_b.
        se: Standard error of the difference.
        ci_low: Lower limit of the difference's CI (normal approximation).
        ci_high: Upper limit.
        z: difference / se (0 when both are 0; ±inf when se is 0 and the difference not).
        p_value: Two-sided p-value.
        level: Confidence level of the CI.
        paired: True for the same cases (correlated test), False for two cohorts.
        var_a: DeLong variance of auc_a.
        var_b: DeLong variance of auc_b.
        cov_ab: Their covariance (0 when unpaired).
    """

    auc_a: float
    auc_b: float
    difference: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    level: float
    paired: bool
    var_a: float
    var_b: float
    cov_ab: float


def _difference_test(
    auc_a: float,
    auc_b: float,
    var_a: float,
    var_b: float,
    cov_ab: float,
    level: float,
    paired: bool,
) -> DeLongResult:
    diff = auc_a - auc_b
    var = max(var_a + var_b - 2.0 * cov_ab, 0.0)
    se = float(np.sqrt(var))
    if se > 0:
        z = diff / se
        p = float(2.0 * stats.norm.sf(abs(z)))
    elif diff == 0:
        z, p = 0.0, 1.0
    else:
        z, p = float(np.sign(diff) * np.inf), 0.0
    q = float(stats.norm.ppf(0.5 + level / 2.0))
    return DeLongResult(
        auc_a=float(auc_a),
        auc_b=float(auc_b),
        difference=float(diff),
        se=se,
        ci_low=float(diff - q * se),
        ci_high=float(diff + q * se),
        z=float(z),
        p_value=p,
        level=level,
        paired=paired,
        var_a=float(var_a),
        var_b=float(var_b),
        cov_ab=float(cov_ab),
    )


def delong_test(
    y: npt.ArrayLike, score_a: npt.ArrayLike, score_b: npt.ArrayLike, *, level: float = 0.95
) -> DeLongResult:
    """Paired DeLong test: two scores on the same cases (DeLong 1988; Sun & Xu 2014).

    Runs in O(N log N). The CI of the difference is diff ± z_(1+level)/2 · se, as in pROC.

    Args:
        y: Shape (N,), 0/1 truth.
        score_a: Shape (N,), the first model's scores.
        score_b: Shape (N,), the second model's scores.
        level: Confidence level of the difference's CI.

    Returns:
        The test, with ``difference = auc_a − auc_b``.

    Example:
        >>> r = delong_test([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], [0.2, 0.1, 0.6, 0.9])
        >>> round(r.auc_a, 2), r.auc_b
        (0.75, 1.0)
    """
    level = as_level(level)
    truth, (a, b) = check_binary_task(y, score_a, score_b, names=("score_a", "score_b"))
    aucs, cov = delong_covariance(truth, np.vstack([a, b]))
    return _difference_test(aucs[0], aucs[1], cov[0, 0], cov[1, 1], cov[0, 1], level, True)


def delong_test_unpaired(
    y_a: npt.ArrayLike,
    score_a: npt.ArrayLike,
    y_b: npt.ArrayLike,
    score_b: npt.ArrayLike,
    *,
    level: float = 0.95,
) -> DeLongResult:
    """Unpaired DeLong test: two AUCs from independent cohorts (variances add).

    Var(diff) = Var_DeLong(AUC_a) + Var_DeLong(AUC_b), the unpaired form used by pROC's
    ``roc.test(paired = FALSE, method = "delong")`` (DeLong 1988; Sun & Xu 2014).

    Args:
        y_a: Shape (N_a,), truth of cohort a.
        score_a: Shape (N_a,), scores on cohort a.
        y_b: Shape (N_b,), truth of cohort b.
        score_b: Shape (N_b,), scores on cohort b.
        level: Confidence level of the difference's CI.

    Returns:
        The test, with ``paired=False`` and ``cov_ab=0``.
    """
    level = as_level(level)
    auc_a, var_a = delong_covariance(y_a, score_a)
    auc_b, var_b = delong_covariance(y_b, score_b)
    return _difference_test(auc_a[0], auc_b[0], var_a[0, 0], var_b[0, 0], 0.0, level, False)


def holm_adjust(p_values: npt.ArrayLike) -> FloatArray:
    """Holm's (1979) step-down adjustment of p-values (family-wise error rate).

    Args:
        p_values: Shape (k,), raw p-values in [0, 1].

    Returns:
        Shape (k,), adjusted p-values in the input order, capped at 1.

    Example:
        >>> holm_adjust([0.01, 0.04, 0.03]).tolist()
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    k = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((k - np.arange(k)) * p[order])
    out = np.empty(k)
    out[order] = np.minimum(stepped, 1.0)
    return np.round(out, 15)


@dataclass(frozen=True)
class PairwiseDeLong(Result):
    """One pair of a multi-model comparison.

    Attributes:
        model_a: Name of the first model.
        model_b: Name of the second model.
        test: The paired DeLong test of a − b.
        p_holm: Holm-adjusted p-value across all pairs.
    """

    model_a: str
    model_b: str
    test: DeLongResult
    p_holm: float


@dataclass(frozen=True)
class ModelComparison(Result):
    """Every pairwise DeLong test among k models, plus a global test that all AUCs are equal.

    Attributes:
        names: The k model names, in input order.
        aucs: Shape (k,), each model's AUC.
        covariance: Shape (k, k), DeLong covariance of the AUCs.
        pairs: The k(k−1)/2 pairwise tests, in the order (0,1), (0,2), ..., (k−2,k−1).
        chi2: Global statistic (Lθ)ᵀ(LSLᵀ)⁻¹(Lθ) with contrasts L of successive differences
            (DeLong 1988, section 3); NaN for one model.
        df: Its degrees of freedom, rank(LSLᵀ).
        p_global: Its p-value from χ²(df).
    """

    names: tuple[str, ...]
    aucs: FloatArray
    covariance: FloatArray
    pairs: tuple[PairwiseDeLong, ...]
    chi2: float
    df: int
    p_global: float

    def matrix(self, field: str = "p_holm") -> FloatArray:
        """A (k, k) matrix of one pairwise quantity, NaN on the diagonal.

        Args:
            field: ``p_holm``, ``p_value``, ``difference`` or ``z``; the entry (i, j)
                refers to model i − model j (differences and z change sign below).

        Returns:
            Shape (k, k).
        """
        k = len(self.names)
        out = np.full((k, k), np.nan)
        index = {name: i for i, name in enumerate(self.names)}
        for pair in self.pairs:
            i, j = index[pair.model_a], index[pair.model_b]
            value = pair.p_holm if field == "p_holm" else float(getattr(pair.test, field))
            sign = -1.0 if field in ("difference", "z") else 1.0
            out[i, j] = value
            out[j, i] = sign * value
        return out


def compare_models(
    y: npt.ArrayLike, scores: Mapping[str, npt.ArrayLike], *, level: float = 0.95
) -> ModelComparison:
    """Compare every pair of models on the same cases by DeLong's test, Holm-adjusted.

    Adds DeLong's (1988) global χ² test that all k AUCs are equal, built from the k−1
    successive differences; comparing more than two curves is not offered by pROC.

    Args:
        y: Shape (N,), 0/1 truth.
        scores: Model name -> shape (N,) scores; at least two models.
        level: Confidence level of each difference's CI.

    Returns:
        The comparison; ``matrix("p_holm")`` gives the adjusted p-value matrix.
    """
    level = as_level(level)
    names = tuple(str(k) for k in scores)
    if len(names) < 2:
        raise InvalidInputError("compare_models needs at least two models' scores.")
    truth, checked = check_binary_task(y, *scores.values(), names=names)
    aucs, cov = delong_covariance(truth, np.vstack(checked))
    tests = []
    for i, j in itertools.combinations(range(len(names)), 2):
        tests.append(
            (i, j, _difference_test(aucs[i], aucs[j], cov[i, i], cov[j, j], cov[i, j], level, True))
        )
    adjusted = holm_adjust([t.p_value for _, _, t in tests])
    pairs = tuple(
        PairwiseDeLong(names[i], names[j], t, float(p))
        for (i, j, t), p in zip(tests, adjusted, strict=True)
    )
    k = len(names)
    contrast = np.eye(k - 1, k) - np.eye(k - 1, k, 1)
    diff = contrast @ aucs
    s = contrast @ cov @ contrast.T
    df = int(np.linalg.matrix_rank(s))
    if df == 0:
        chi2, p_global = (0.0, 1.0) if np.allclose(diff, 0) else (np.inf, 0.0)
    else:
        chi2 = float(diff @ np.linalg.pinv(s) @ diff)
        p_global = float(stats.chi2.sf(chi2, df))
    return ModelComparison(
        names=names,
        aucs=frozen_array(aucs),
        covariance=frozen_array(cov),
        pairs=pairs,
        chi2=float(chi2),
        df=df,
        p_global=float(p_global),
    )
