"""Calibration against statsmodels/scikit-learn; kappas against statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from ankle_core.errors import InvalidInputError
from ankle_core.stats import calibration, cohen_kappa, disagreement_counts, fleiss_kappa


@pytest.fixture
def probs():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.02, 0.98, 300)
    y = (rng.uniform(size=300) < expit(0.4 + 0.7 * logit(p))).astype(int)
    return y, p


def test_calibration_matches_glm(probs):
    y, p = probs
    res = calibration(y, p)
    full = sm.GLM(y, sm.add_constant(logit(p)), family=sm.families.Binomial()).fit()
    offset = sm.GLM(y, np.ones(y.size), family=sm.families.Binomial(), offset=logit(p)).fit()
    assert res.slope == pytest.approx(full.params[1], rel=1e-6)
    assert res.slope_ci == pytest.approx(tuple(full.conf_int()[1]), rel=1e-5)
    assert res.intercept == pytest.approx(offset.params[0], rel=1e-6)
    assert res.brier == pytest.approx(brier_score_loss(y, p))
    assert res.converged


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_matches_sklearn(probs, strategy):
    y, p = probs
    res = calibration(y, p, n_bins=8, strategy=strategy)
    true, pred = calibration_curve(y, p, n_bins=8, strategy=strategy)
    np.testing.assert_allclose(res.curve.observed, true)
    np.testing.assert_allclose(res.curve.mean_predicted, pred)
    assert res.curve.count.sum() == y.size


def test_calibration_rejects_non_probabilities():
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        calibration([0, 1, 0, 1], [0.1, 1.5, 0.2, 0.9])


def test_cohen_kappa_matches_statsmodels():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 3, 150)
    b = np.where(rng.uniform(size=150) < 0.6, a, rng.integers(0, 3, 150))
    res = cohen_kappa(a, b)
    table = np.zeros((3, 3))
    np.add.at(table, (a, b), 1)
    ref = cohens_kappa(table)
    assert res.kappa == pytest.approx(ref.kappa)
    assert res.se == pytest.approx(ref.std_kappa)
    assert res.ci_low == pytest.approx(ref.kappa_low)
    assert res.se_null == pytest.approx(ref.std_kappa0)


def test_cohen_kappa_by_hand():
    # table [[2, 1], [1, 2]]: po = 4/6, pe = 1/2 -> kappa = 1/3
    assert cohen_kappa([1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 1, 1]).kappa == pytest.approx(1 / 3)


def test_fleiss_kappa_matches_statsmodels():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 80)
    ratings = np.stack(
        [np.where(rng.uniform(size=80) < 0.8, truth, 1 - truth) for _ in range(4)], axis=1
    )
    res = fleiss_kappa(ratings)
    assert res.kappa == pytest.approx(sm_fleiss(aggregate_raters(ratings)[0], method="fleiss"))
    assert res.p_value < 0.001


def test_disagreement_counts():
    res = disagreement_counts({"a": [1, 0, 1, 1], "b": [1, 1, 0, 1], "c": [1, 0, 1, 1]})
    assert res.counts.tolist() == [[0, 2, 0], [2, 0, 2], [0, 2, 0]]
