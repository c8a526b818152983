"""McNemar (paired calls) and Boschloo (independent groups) against statsmodels and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import boschloo_exact
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from ankle_core.errors import InvalidInputError
from ankle_core.stats import boschloo, mcnemar, mcnemar_counts


@pytest.mark.parametrize("table", [[[30, 9], [2, 59]], [[10, 0], [5, 3]], [[4, 12], [3, 1]]])
def test_mcnemar_matches_statsmodels(table):
    res = mcnemar_counts(table)
    assert res.p_exact == pytest.approx(sm_mcnemar(table, exact=True).pvalue)
    sm = sm_mcnemar(table, exact=False, correction=True)
    assert res.chi2 == pytest.approx(sm.statistic)
    assert res.p_chi2 == pytest.approx(sm.pvalue)


def test_mcnemar_from_predictions_counts_correctness():
    y = np.array([1, 1, 1, 0, 0, 0])
    a = np.array([1, 1, 0, 0, 0, 1])  # correct on 0, 1, 3, 4
    b = np.array([0, 1, 1, 0, 1, 1])  # correct on 1, 2, 3
    res = mcnemar(a, b, y)
    assert res.table == ((2, 2), (1, 1))
    assert res.accuracy_a == pytest.approx(4 / 6)
    assert res.difference == pytest.approx(1 / 6)


def test_mcnemar_no_discordant_pairs():
    res = mcnemar([1, 0], [1, 0], [1, 0])
    assert res.p_exact == 1.0 and res.p_chi2 == 1.0


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_boschloo_matches_scipy(alternative):
    table = [[74, 31], [43, 32]]
    assert boschloo(table, alternative=alternative).p_value == pytest.approx(
        boschloo_exact(table, alternative=alternative).pvalue
    )


def test_bad_tables_raise():
    with pytest.raises(InvalidInputError):
        boschloo([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(InvalidInputError):
        mcnemar_counts([[1, -1], [0, 2]])
    with pytest.raises(InvalidInputError, match="lengths"):
        mcnemar([1, 0], [1, 0, 1], [1, 0])
