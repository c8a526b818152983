"""Agreement between raters or models: Cohen's kappa, Fleiss' kappa, disagreement counts.

References:
    Cohen J (1960). A coefficient of agreement for nominal scales. Educ Psychol Meas
    20:37–46.
    Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and
    weighted kappa. Psychol Bull 72:323–327.
    Fleiss JL (1971). Measuring nominal scale agreement among many raters. Psychol Bull
    76:378–382.
    Fleiss JL, Nee JCM, Landis JR (1979). Large sample variance of kappa in the case of
    different sets of raters. Psychol Bull 86:974–977.
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
from ankle_core.stats._validate import as_level

__all__ = [
    "CohenKappa",
    "FleissKappa",
    "PairwiseCounts",
    "cohen_kappa",
    "disagreement_counts",
    "fleiss_kappa",
]

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]


def _labels(values: npt.ArrayLike, name: str) -> npt.NDArray[np.str_]:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(f"{name} must be a non-empty 1-D array of ratings.")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise InvalidInputError(f"{name} contains missing ratings (NaN).")
    if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
        arr = arr.astype(np.int64)
    return arr.astype(str)


@dataclass(frozen=True)
class CohenKappa(Result):
    """Cohen's kappa between two raters, with a large-sample interval.

    Attributes:
        kappa: (p_o − p_e)/(1 − p_e).
        se: Non-null standard error (Fleiss, Cohen & Everitt 1969), as statsmodels'
            ``std_kappa``.
        ci_low: kappa − z·se.
        ci_high: kappa + z·se.
        se_null: Standard error under κ = 0, for the z test.
        z: kappa / se_null.
        p_value: Two-sided p-value of κ = 0.
        observed_agreement: p_o.
        expected_agreement: p_e (chance).
        n: Items rated by both.
        categories: The categories, sorted as text.
        table: Shape (c, c), counts (rater a rows, rater b columns).
        level: Coverage.
    """

    kappa: float
    se: float
    ci_low: float
    ci_high: float
    se_null: float
    z: float
    p_value: float
    observed_agreement: float
    expected_agreement: float
    n: int
    categories: tuple[str, ...]
    table: npt.NDArray[np.int64]
    level: float


def cohen_kappa(
    rater_a: npt.ArrayLike,
    rater_b: npt.ArrayLike,
    *,
    categories: tuple[str, ...] | None = None,
    level: float = 0.95,
) -> CohenKappa:
    """Cohen's (1960) unweighted kappa with the Fleiss–Cohen–Everitt (1969) standard error.

    Args:
        rater_a: Shape (N,), categorical ratings (numbers or text; 0/1 calls typically).
        rater_b: Shape (N,), the other rater's ratings of the same items.
        categories: All categories (as text); default: those observed.
        level: Coverage of the interval.

    Returns:
        Kappa with CI and a test of κ = 0.

    Example:
        >>> round(cohen_kappa([1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 1, 1]).kappa, 4)
        0.3333
    """
    level = as_level(level)
    a = _labels(rater_a, "rater_a")
    b = _labels(rater_b, "rater_b")
    if a.size != b.size:
        raise InvalidInputError(
            f"the raters rated {a.size} and {b.size} items: lengths must match."
        )
    cats = (
        tuple(sorted(set(a.tolist()) | set(b.tolist())))
        if categories is None
        else tuple(map(str, categories))
    )
    index = {c: i for i, c in enumerate(cats)}
    if not set(a.tolist()) | set(b.tolist()) <= set(cats):
        raise InvalidInputError("a rating falls outside the given categories.")
    k = len(cats)
    table = np.zeros((k, k), dtype=np.int64)
    np.add.at(table, ([index[v] for v in a.tolist()], [index[v] for v in b.tolist()]), 1)
    n = a.size
    probs = table / n
    row = probs.sum(axis=1)
    col = probs.sum(axis=0)
    po = float(np.trace(probs))
    pe = float(row @ col)
    if pe >= 1.0:
        raise InvalidInputError(
            "both raters used a single, identical category: kappa is undefined."
        )
    kappa = (po - pe) / (1.0 - pe)
    diag = np.diag(probs)
    term_a = float(np.sum(diag * (1.0 - (row + col) * (1.0 - kappa)) ** 2))
    off = probs * (col[:, None] + row[None, :]) ** 2
    np.fill_diagonal(off, 0.0)
    term_b = (1.0 - kappa) ** 2 * float(off.sum())
    term_c = (kappa - pe * (1.0 - kappa)) ** 2
    var = max((term_a + term_b - term_c) / (1.0 - pe) ** 2 / n, 0.0)
    var0 = (pe + pe**2 - float(np.sum(row * col * (row + col)))) / ((1.0 - pe) ** 2 * n)
    se, se0 = float(np.sqrt(var)), float(np.sqrt(max(var0, 0.0)))
    q = float(stats.norm.ppf(0.5 + level / 2.0))
    z = kappa / se0 if se0 > 0 else float("nan")
    return CohenKappa(
        kappa=float(kappa),
        se=se,
        ci_low=float(kappa - q * se),
        ci_high=float(kappa + q * se),
        se_null=se0,
        z=float(z),
        p_value=float(2.0 * stats.norm.sf(abs(z))) if se0 > 0 else float("nan"),
        observed_agreement=po,
        expected_agreement=pe,
        n=int(n),
        categories=cats,
        table=frozen_array(table, np.int64),
        level=level,
    )


@dataclass(frozen=True)
class FleissKappa(Result):
    """Fleiss' kappa among several raters.

    Attributes:
        kappa: (P̄ − P̄_e)/(1 − P̄_e) (Fleiss 1971).
        se_null: Standard error under κ = 0 (Fleiss, Nee & Landis 1979), as R ``irr``.
        z: kappa / se_null.
        p_value: Two-sided p-value of κ = 0.
        n_items: Items.
        n_raters: Raters per item.
        categories: Categories, sorted as text.
        category_proportions: Shape (c,), share of all ratings in each category.
    """

    kappa: float
    se_null: float
    z: float
    p_value: float
    n_items: int
    n_raters: int
    categories: tuple[str, ...]
    category_proportions: FloatArray


def fleiss_kappa(ratings: npt.ArrayLike) -> FleissKappa:
    """Fleiss' (1971) kappa for N items each rated by the same number of raters.

    Args:
        ratings: Shape (N, R): the category each of R raters gave each item (R ≥ 2).

    Returns:
        Kappa and its z test (Fleiss, Nee & Landis 1979).
    """
    arr = np.asarray(ratings)
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.shape[0] < 1:
        raise InvalidInputError("ratings must be a table of items (rows) by at least 2 raters.")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise InvalidInputError("ratings contain missing values (NaN).")
    if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
        arr = arr.astype(np.int64)
    text = arr.astype(str)
    cats = tuple(sorted(set(text.ravel().tolist())))
    counts = np.stack([(text == c).sum(axis=1) for c in cats], axis=1).astype(np.float64)
    n_items, n_raters = arr.shape
    pj = counts.sum(axis=0) / (n_items * n_raters)
    pi = (np.sum(counts**2, axis=1) - n_raters) / (n_raters * (n_raters - 1))
    p_bar = float(pi.mean())
    pe = float(np.sum(pj**2))
    if pe >= 1.0:
        raise InvalidInputError("all raters used a single category: kappa is undefined.")
    kappa = (p_bar - pe) / (1.0 - pe)
    qj = 1.0 - pj
    s = float(np.sum(pj * qj))
    var0 = (
        2.0
        / (s**2 * n_items * n_raters * (n_raters - 1))
        * (s**2 - float(np.sum(pj * qj * (qj - pj))))
    )
    se0 = float(np.sqrt(max(var0, 0.0)))
    z = kappa / se0 if se0 > 0 else float("nan")
    return FleissKappa(
        kappa=float(kappa),
        se_null=se0,
        z=float(z),
        p_value=float(2.0 * stats.norm.sf(abs(z))) if se0 > 0 else float("nan"),
        n_items=int(n_items),
        n_raters=int(n_raters),
        categories=cats,
        category_proportions=frozen_array(pj),
    )


@dataclass(frozen=True)
class PairwiseCounts(Result):
    """A symmetric matrix of pairwise counts between named raters or models.

    Attributes:
        names: The k names.
        counts: Shape (k, k); entry (i, j) = items on which i and j disagree (0 diagonal).
        n: Items.
    """

    names: tuple[str, ...]
    counts: npt.NDArray[np.int64]
    n: int


def disagreement_counts(calls: Mapping[str, npt.ArrayLike]) -> PairwiseCounts:
    """Count, for every pair of raters or models, the items on which they disagree.

    Args:
        calls: Name -> shape (N,) ratings or 0/1 calls, all on the same items.

    Returns:
        The k × k counts.

    Example:
        >>> disagreement_counts({"a": [1, 0, 1], "b": [1, 1, 0]}).counts.tolist()
        [[0, 2], [2, 0]]
    """
    names = tuple(str(k) for k in calls)
    arrays = [_labels(v, name) for name, v in zip(names, calls.values(), strict=True)]
    if len({a.size for a in arrays}) > 1:
        raise InvalidInputError("every rater must rate the same items: lengths differ.")
    k = len(names)
    out = np.zeros((k, k), dtype=np.int64)
    for i, j in itertools.combinations(range(k), 2):
        out[i, j] = out[j, i] = int(np.sum(arrays[i] != arrays[j]))
    return PairwiseCounts(
        names=names, counts=frozen_array(out, np.int64), n=int(arrays[0].size) if arrays else 0
    )
