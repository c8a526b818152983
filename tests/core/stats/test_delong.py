"""Fast DeLong against the O(n²) reference of DeLong et al. (1988), and multi-model tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.multitest import multipletests

from ankle_core.stats import compare_models, delong_covariance, delong_test, delong_test_unpaired
from ankle_core.stats.delong import holm_adjust
from tests.core.stats.conftest import slow_delong


def test_fast_covariance_equals_slow(cohort):
    y, a, b = cohort
    fast_aucs, fast_cov = delong_covariance(y, np.vstack([a, b]))
    slow_aucs, slow_cov = slow_delong(y, np.vstack([a, b]))
    np.testing.assert_allclose(fast_aucs, slow_aucs, atol=1e-12)
    np.testing.assert_allclose(fast_cov, slow_cov, rtol=1e-10, atol=1e-15)
    assert fast_aucs[0] == pytest.approx(roc_auc_score(y, a))


def test_paired_test_statistic(cohort):
    y, a, b = cohort
    aucs, cov = slow_delong(y, np.vstack([a, b]))
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = (aucs[0] - aucs[1]) / np.sqrt(var)
    res = delong_test(y, a, b)
    assert res.z == pytest.approx(z)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert res.ci_low < res.difference < res.ci_high
    assert res.difference == pytest.approx(aucs[0] - aucs[1])


def test_small_case_by_hand():
    # a: positives 0.35, 0.8 vs negatives 0.1, 0.4 -> 3 of 4 pairs -> 0.75; b separates.
    res = delong_test([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], [0.2, 0.1, 0.6, 0.9])
    assert (res.auc_a, res.auc_b) == (0.75, 1.0)
    # V10(a) = (0.5, 1), V01(a) = (1, 0.5): S10 = S01 = 0.125 -> var = 0.125/2 + 0.125/2
    assert res.var_a == pytest.approx(0.125)
    assert res.var_b == 0.0


def test_identical_scores_give_p_one(cohort):
    y, a, _ = cohort
    res = delong_test(y, a, a)
    assert res.difference == 0.0 and res.p_value == 1.0


def test_unpaired_adds_variances(cohort):
    y, a, b = cohort
    ra = slow_delong(y[:60], a[:60])
    rb = slow_delong(y[60:], b[60:])
    res = delong_test_unpaired(y[:60], a[:60], y[60:], b[60:])
    se = np.sqrt(ra[1][0, 0] + rb[1][0, 0])
    assert res.se == pytest.approx(se)
    assert not res.paired


def test_compare_models_holm_and_global(cohort):
    y, a, b = cohort
    rng = np.random.default_rng(1)
    scores = {"a": a, "b": b, "noise": rng.normal(size=y.size)}
    comp = compare_models(y, scores)
    raw = [p.test.p_value for p in comp.pairs]
    expected = multipletests(raw, method="holm")[1]
    np.testing.assert_allclose([p.p_holm for p in comp.pairs], expected)
    assert comp.matrix("p_holm")[0, 2] == comp.matrix("p_holm")[2, 0]
    assert comp.matrix("difference")[0, 1] == -comp.matrix("difference")[1, 0]
    # with two models the global chi-square is the square of the pairwise z
    two = compare_models(y, {"a": a, "b": b})
    assert two.chi2 == pytest.approx(two.pairs[0].test.z ** 2)
    assert two.p_global == pytest.approx(two.pairs[0].test.p_value)


def test_holm_by_hand():
    np.testing.assert_allclose(holm_adjust([0.01, 0.04, 0.03, 0.5]), [0.04, 0.09, 0.09, 0.5])
