"""Metrics at a threshold, threshold choice and the leakage guard."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from ankle_core.stats import (
    ThresholdLeakageError,
    ThresholdLeakageWarning,
    apply_operating_points,
    choose_operating_points,
    choose_threshold,
    evaluate_operating_points,
    metrics_at,
    wilson_interval,
)


def test_metrics_by_hand():
    y = [0, 0, 1, 1, 1]
    s = [0.2, 0.6, 0.7, 0.9, 0.4]
    r = metrics_at(y, s, 0.5)
    assert (r.tp, r.fp, r.tn, r.fn) == (2, 1, 1, 1)
    assert r.accuracy.value == pytest.approx(3 / 5)
    assert r.ppv.value == pytest.approx(2 / 3)
    assert r.npv.value == pytest.approx(1 / 2)
    assert r.f1.value == pytest.approx(4 / 6)
    assert np.isnan(r.f1.wilson_low)
    # a score equal to the threshold is called positive
    assert metrics_at(y, s, 0.6).fp == 1


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (47, 60)])
def test_wilson_matches_statsmodels(k, n):
    np.testing.assert_allclose(wilson_interval(k, n), proportion_confint(k, n, method="wilson"))


def test_wilson_is_undefined_without_cases():
    # n = 0: no estimate, so no interval. NaN (like Metric.value) rather than (0, 1), which a
    # report would print as a measured "95% CI 0-1"; card_ci95 writes it as null.
    lo, hi = wilson_interval(0, 0)
    assert np.isnan(lo) and np.isnan(hi)


def test_bootstrap_intervals(cohort):
    y, a, _ = cohort
    r = metrics_at(y, a, 0.5, n_boot=500, rng=np.random.default_rng(0))
    for m in (r.accuracy, r.sensitivity, r.specificity, r.ppv, r.npv, r.f1):
        assert m.boot_low <= m.value <= m.boot_high


def _brute_youden(y, s):
    best = -1.0
    for t in np.unique(s):
        calls = s >= t
        j = calls[y == 1].mean() + (~calls[y == 0]).mean() - 1
        if j > best + 1e-12:
            best = j
    return best


def test_youden_and_targets(cohort):
    y, a, _ = cohort
    t = choose_threshold(y, a, method="youden")
    assert t.sensitivity + t.specificity - 1 == pytest.approx(_brute_youden(y, a))
    sens = choose_threshold(y, a, method="sensitivity", target=0.9)
    assert sens.sensitivity >= 0.9
    calls = a >= sens.value
    assert calls[y == 1].mean() == pytest.approx(sens.sensitivity)
    spec = choose_threshold(y, a, method="specificity", target=0.9)
    assert spec.specificity >= 0.9
    acc = choose_threshold(y, a, method="max_accuracy")
    best = max(((a >= v) == y).mean() for v in np.r_[np.unique(a), np.inf])
    assert ((a >= acc.value) == y).mean() == pytest.approx(best)


def test_leakage_is_refused_even_when_shuffled(cohort):
    y, a, _ = cohort
    t = choose_threshold(y[:60], a[:60], method="youden")
    metrics_at(y[60:], a[60:], t)  # a different set is fine
    perm = np.random.default_rng(0).permutation(60)
    with pytest.raises(ThresholdLeakageError):
        metrics_at(y[:60][perm], a[:60][perm], t)
    with pytest.warns(ThresholdLeakageWarning):
        r = metrics_at(y[:60], a[:60], t, allow_same_data=True)
    assert r.same_data_as_threshold


def test_fixed_threshold_has_no_provenance(cohort):
    y, a, _ = cohort
    t = choose_threshold(method="fixed", value=0.5)
    assert t.chosen_on is None
    assert not metrics_at(y, a, t).same_data_as_threshold


def test_operating_points(cohort):
    y, a, _ = cohort
    ops = choose_operating_points(y[:60], a[:60], sensitivity=0.95, specificity=0.95)
    assert ops.rule_out.value <= ops.rule_in.value
    calls = apply_operating_points(a, ops)
    assert set(np.unique(calls)) <= {-1, 0, 1}
    assert np.all(calls[a >= ops.rule_in.value] == 1)
    res = evaluate_operating_points(y[60:], a[60:], ops)
    assert 0 <= res.indeterminate_fraction <= 1
    with pytest.raises(ThresholdLeakageError):
        evaluate_operating_points(y[:60], a[:60], ops)
