"""ROC curve, AUC, AUC confidence intervals and bands."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from ankle_core.errors import InvalidInputError
from ankle_core.stats import auc_ci, auc_score, roc_band, roc_curve
from ankle_core.stats.bootstrap import bootstrap_auc
from ankle_core.stats.roc import interpolate_tpr
from tests.core.stats.conftest import slow_delong


def test_roc_curve_matches_sklearn_with_ties(cohort):
    y, a, _ = cohort
    curve = roc_curve(y, a)
    fpr, tpr, thr = sk_roc_curve(y, a, drop_intermediate=False)
    np.testing.assert_allclose(curve.fpr, fpr)
    np.testing.assert_allclose(curve.tpr, tpr)
    np.testing.assert_array_equal(curve.thresholds, thr)
    assert curve.auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert not curve.fpr.flags.writeable


def test_auc_by_hand_ties_count_half():
    # pairs (pos, neg): (0.5 vs 0.1) 1, (0.5 vs 0.5) 1/2, (0.8 vs 0.1) 1, (0.8 vs 0.5) 1 -> 3.5/4
    assert auc_score([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.8]) == 0.875
    assert auc_score([1, 1, 0, 0], [0.2, 0.1, 0.8, 0.9]) == 0.0  # no automatic flip


def test_delong_ci_matches_slow_reference(cohort):
    y, a, _ = cohort
    aucs, cov = slow_delong(y, a)
    res = auc_ci(y, a, method="delong")
    z = stats.norm.ppf(0.975)
    assert res.auc == pytest.approx(aucs[0])
    assert res.se == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-10)
    assert res.ci_low == pytest.approx(aucs[0] - z * np.sqrt(cov[0, 0]))


def test_vectorised_bootstrap_equals_plain_loop():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(15, dtype=int), np.zeros(25, dtype=int)]
    s = np.round(rng.normal(size=40) + y, 1)
    fast = bootstrap_auc(y, s, 50, np.random.default_rng(7))
    # the same draws, by hand: positives' indices first, then negatives', one chunk
    gen = np.random.default_rng(7)
    ip = gen.integers(0, 15, size=(50, 15))
    ineg = gen.integers(0, 25, size=(50, 25))
    pos, neg = s[y == 1], s[y == 0]
    slow = [
        roc_auc_score(np.r_[np.ones(15), np.zeros(25)], np.r_[pos[ip[b]], neg[ineg[b]]])
        for b in range(50)
    ]
    np.testing.assert_allclose(fast, slow, atol=1e-12)


@pytest.mark.parametrize("method", ["bootstrap", "bca"])
def test_bootstrap_ci_is_reproducible_and_sensible(cohort, method):
    y, a, _ = cohort
    r1 = auc_ci(y, a, method=method, n_boot=1000, rng=np.random.default_rng(3))
    r2 = auc_ci(y, a, method=method, n_boot=1000, rng=np.random.default_rng(3))
    delong = auc_ci(y, a)
    assert r1 == r2
    assert r1.ci_low < r1.auc < r1.ci_high
    assert r1.ci_high - r1.ci_low == pytest.approx(delong.ci_high - delong.ci_low, rel=0.25)


def test_bootstrap_needs_rng(cohort):
    y, a, _ = cohort
    with pytest.raises(InvalidInputError, match="rng"):
        auc_ci(y, a, method="bootstrap")


def test_interpolate_tpr_takes_top_of_vertical_segments():
    fpr = np.array([[0.0, 0.0, 0.5, 1.0]])
    tpr = np.array([[0.0, 0.6, 0.8, 1.0]])
    out = interpolate_tpr(fpr, tpr, np.array([0.0, 0.25, 0.5, 1.0]))
    np.testing.assert_allclose(out, [[0.6, 0.7, 0.8, 1.0]])


def test_band_brackets_the_curve(cohort):
    y, a, _ = cohort
    band = roc_band(y, a, rng=np.random.default_rng(1), n_boot=300, fpr_grid=np.linspace(0, 1, 21))
    assert band.fpr_grid.shape == (21,)
    assert np.all(band.tpr_low <= band.tpr + 1e-12)
    assert np.all(band.tpr <= band.tpr_high + 1e-12)
    assert band.tpr_high[-1] == 1.0
    assert (band.tpr_high - band.tpr_low)[5] > 0.05


def _auc_along_axis(pos: np.ndarray, neg: np.ndarray, axis: int = -1) -> np.ndarray:
    pos, neg = np.moveaxis(pos, axis, -1), np.moveaxis(neg, axis, -1)
    m, n = pos.shape[-1], neg.shape[-1]
    ranks = stats.rankdata(np.concatenate([pos, neg], axis=-1), axis=-1)
    return (ranks[..., :m].sum(axis=-1) - m * (m + 1) / 2) / (m * n)


@pytest.mark.parametrize("method,scipy_method", [("bootstrap", "percentile"), ("bca", "BCa")])
def test_bootstrap_ci_agrees_with_scipy(cohort, method, scipy_method):
    """scipy.stats.bootstrap resamples each class separately too (multi-sample); with many
    replicates the two intervals agree up to Monte Carlo error."""
    y, a, _ = cohort
    ours = auc_ci(y, a, method=method, n_boot=20_000, rng=np.random.default_rng(0))
    ref = stats.bootstrap(
        (a[y == 1], a[y == 0]),
        _auc_along_axis,
        n_resamples=20_000,
        vectorized=True,
        method=scipy_method,
        rng=np.random.default_rng(1),
    ).confidence_interval
    assert ours.ci_low == pytest.approx(ref.low, abs=0.006)
    assert ours.ci_high == pytest.approx(ref.high, abs=0.006)


def test_hand_delong_variance_with_ties():
    # V10 = (0.75, 1), V01 = (1, 0.75): S10 = S01 = 1/32 -> var = 1/64 + 1/64
    res = auc_ci([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.8])
    assert res.auc == 0.875
    assert res.se == pytest.approx(np.sqrt(1 / 32))


def test_jackknife_auc_equals_leave_one_out(cohort):
    from ankle_core.stats.bootstrap import jackknife_auc

    y, a, _ = cohort
    y, a = y[:40], a[:40]
    brute = [roc_auc_score(np.delete(y, k), np.delete(a, k)) for k in range(y.size)]
    np.testing.assert_allclose(jackknife_auc(y, a), brute, atol=1e-12)


def test_simultaneous_band_covers_whole_replicate_curves(cohort):
    from ankle_core.stats.bootstrap import iter_level_counts

    y, a, _ = cohort
    grid = np.linspace(0, 1, 41)
    point = roc_band(y, a, rng=np.random.default_rng(9), n_boot=400, fpr_grid=grid)
    simul = roc_band(
        y, a, rng=np.random.default_rng(9), n_boot=400, fpr_grid=grid, kind="simultaneous"
    )
    assert simul.kind == "simultaneous"
    inner = slice(1, -1)
    assert np.mean(simul.tpr_high[inner] - simul.tpr_low[inner]) > np.mean(
        point.tpr_high[inner] - point.tpr_low[inner]
    )
    # the same replicates: at least `level` of them lie wholly inside the band
    curves = np.vstack(
        [
            interpolate_tpr(*c.roc_points(), grid)
            for c in iter_level_counts(y, a, 400, np.random.default_rng(9))
        ]
    )
    inside = np.all((curves >= simul.tpr_low - 1e-12) & (curves <= simul.tpr_high + 1e-12), axis=1)
    assert inside.mean() >= 0.95 - 1e-9
    pointwise_inside = np.all(
        (curves >= point.tpr_low - 1e-12) & (curves <= point.tpr_high + 1e-12), axis=1
    )
    assert pointwise_inside.mean() < inside.mean()
