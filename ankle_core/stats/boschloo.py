"""Boschloo's exact unconditional test: two *independent* groups' proportions.

For two classifiers on the same cases (paired), use :mod:`ankle_core.stats.mcnemar`.

References:
    Boschloo RD (1970). Raised conditional level of significance for the 2×2-table when
    testing the equality of two probabilities. Statistica Neerlandica 24:1–35.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from ankle_core.errors import InvalidInputError
from ankle_core.stats._result import Result

__all__ = ["BoschlooResult", "boschloo"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BoschlooResult(Result):
    """Boschloo's exact unconditional test for two independent binomial proportions.

    Attributes:
        table: The 2×2 table as given (columns = the two groups, rows = success/failure).
        statistic: Fisher's exact one-sided p-value used as the test statistic.
        p_value: Boschloo's p-value.
        alternative: ``two-sided``, ``less`` or ``greater``.
    """

    table: tuple[tuple[int, int], tuple[int, int]]
    statistic: float
    p_value: float
    alternative: str


def boschloo(
    table: npt.ArrayLike,
    *,
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
    n: int = 32,
) -> BoschlooResult:
    """Boschloo's (1970) exact test for a 2×2 table of two *independent* groups.

    A thin, validated wrapper of ``scipy.stats.boschloo_exact`` (same convention: each
    column is a group, the first row counts successes). Use
    :func:`ankle_core.stats.mcnemar.mcnemar` for paired data (two classifiers on the same
    cases).

    Args:
        table: Shape (2, 2), non-negative counts.
        alternative: Alternative hypothesis, as in scipy.
        n: Sampling points of the nuisance parameter (scipy's ``n``, 2**m recommended).

    Returns:
        The statistic and p-value.
    """
    t = np.asarray(table)
    if t.shape != (2, 2) or (t < 0).any() or not np.all(np.mod(t, 1) == 0):
        raise InvalidInputError("a Boschloo table must be 2×2 of non-negative whole counts.")
    t = t.astype(np.int64)
    if (t.sum(axis=0) == 0).any():
        raise InvalidInputError(
            "each group (column) of the Boschloo table needs at least one case."
        )
    res = stats.boschloo_exact(t, alternative=alternative, n=n)
    return BoschlooResult(
        table=((int(t[0, 0]), int(t[0, 1])), (int(t[1, 0]), int(t[1, 1]))),
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        alternative=alternative,
    )
