"""McNemar's test: two classifiers' calls on the same (paired) cases.

References:
    McNemar Q (1947). Note on the sampling error of the difference between correlated
    proportions or percentages. Psychometrika 12:153–157.
    Edwards AL (1948). Note on the "correction for continuity" in testing the significance
    of the difference between correlated proportions. Psychometrika 13:185–187.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from ankle_core.errors import InvalidInputError
from ankle_core.stats._result import Result
from ankle_core.stats._validate import as_binary_truth, as_calls

__all__ = ["McNemarResult", "mcnemar", "mcnemar_counts"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class McNemarResult(Result):
    """McNemar's test on the correctness of two classifiers over the same cases.

    Attributes:
        table: ((both correct, only a correct), (only b correct, both wrong)).
        b: Cases where a is correct and b wrong.
        c: Cases where a is wrong and b correct.
        n: All cases.
        accuracy_a: Accuracy of a.
        accuracy_b: Accuracy of b.
        difference: accuracy_a − accuracy_b = (b − c)/n.
        p_exact: Two-sided exact binomial p-value, min(1, 2·P(X ≤ min(b, c))),
            X ~ Bin(b + c, ½); 1 when b + c = 0.
        chi2: Continuity-corrected statistic (|b − c| − 1)²/(b + c) (Edwards 1948), as in
            R's ``mcnemar.test`` and statsmodels; NaN when b + c = 0.
        p_chi2: Its p-value from χ²(1); 1 when b + c = 0.
    """

    table: tuple[tuple[int, int], tuple[int, int]]
    b: int
    c: int
    n: int
    accuracy_a: float
    accuracy_b: float
    difference: float
    p_exact: float
    chi2: float
    p_chi2: float


def mcnemar_counts(table: npt.ArrayLike) -> McNemarResult:
    """McNemar's test from a 2×2 paired table.

    Args:
        table: Shape (2, 2), non-negative counts; rows = a correct / wrong, columns =
            b correct / wrong.

    Returns:
        The exact and the continuity-corrected χ² test.
    """
    t = np.asarray(table)
    if t.shape != (2, 2) or (t < 0).any() or not np.all(np.mod(t, 1) == 0):
        raise InvalidInputError("a McNemar table must be 2×2 of non-negative whole counts.")
    t = t.astype(np.int64)
    b, c = int(t[0, 1]), int(t[1, 0])
    n = int(t.sum())
    if n == 0:
        raise InvalidInputError("the McNemar table is empty.")
    if b + c == 0:
        p_exact, chi2, p_chi2 = 1.0, float("nan"), 1.0
    else:
        p_exact = float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), b + c, 0.5)))
        chi2 = (abs(b - c) - 1.0) ** 2 / (b + c)
        p_chi2 = float(stats.chi2.sf(chi2, 1))
    acc_a = (t[0, 0] + t[0, 1]) / n
    acc_b = (t[0, 0] + t[1, 0]) / n
    return McNemarResult(
        table=((int(t[0, 0]), b), (c, int(t[1, 1]))),
        b=b,
        c=c,
        n=n,
        accuracy_a=float(acc_a),
        accuracy_b=float(acc_b),
        difference=float(acc_a - acc_b),
        p_exact=p_exact,
        chi2=float(chi2),
        p_chi2=p_chi2,
    )


def mcnemar(pred_a: npt.ArrayLike, pred_b: npt.ArrayLike, y: npt.ArrayLike) -> McNemarResult:
    """McNemar's (1947) test of equal accuracy for two classifiers on the same cases.

    Tests the discordant pairs of *correctness* (a right and b wrong vs a wrong and b
    right), both exactly (binomial) and by χ² with continuity correction (Edwards 1948).

    Args:
        pred_a: Shape (N,), 0/1 calls of classifier a (1 = positive).
        pred_b: Shape (N,), 0/1 calls of classifier b.
        y: Shape (N,), 0/1 truth.

    Returns:
        The test; ``difference`` is accuracy(a) − accuracy(b).

    Example:
        >>> r = mcnemar([1, 1, 0, 0, 1], [0, 1, 0, 1, 0], [1, 1, 0, 0, 1])
        >>> r.b, r.c, r.p_exact
        (3, 0, 0.25)
    """
    truth = as_binary_truth(y)
    a = as_calls(pred_a, truth.size, "pred_a")
    b = as_calls(pred_b, truth.size, "pred_b")
    ca = a == truth
    cb = b == truth
    table = [
        [int(np.sum(ca & cb)), int(np.sum(ca & ~cb))],
        [int(np.sum(~ca & cb)), int(np.sum(~ca & ~cb))],
    ]
    return mcnemar_counts(table)
