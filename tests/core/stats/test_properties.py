"""Property tests: the fast algorithms agree with the definitions on random tied data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from ankle_core.stats import auc_score, delong_covariance
from tests.core.stats.conftest import slow_delong

cases = st.integers(min_value=2, max_value=12).flatmap(
    lambda m: st.tuples(
        st.just(m),
        st.integers(min_value=2, max_value=12),
        st.lists(st.integers(0, 4), min_size=48, max_size=48),
        st.lists(st.integers(0, 4), min_size=48, max_size=48),
    )
)


@settings(max_examples=60, deadline=None)
@given(cases)
def test_fast_delong_equals_definition(case):
    m, n, a, b = case
    y = np.r_[np.ones(m, dtype=int), np.zeros(n, dtype=int)]
    scores = np.vstack([np.asarray(a[: m + n], float), np.asarray(b[: m + n], float)])
    fast_aucs, fast_cov = delong_covariance(y, scores)
    slow_aucs, slow_cov = slow_delong(y, scores)
    np.testing.assert_allclose(fast_aucs, slow_aucs, atol=1e-12)
    np.testing.assert_allclose(fast_cov, slow_cov, atol=1e-12)
    assert auc_score(y, scores[0]) == pytest.approx(roc_auc_score(y, scores[0]), abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(cases)
def test_auc_invariant_to_monotone_transform(case):
    m, n, a, _ = case
    y = np.r_[np.ones(m, dtype=int), np.zeros(n, dtype=int)]
    s = np.asarray(a[: m + n], float)
    assert auc_score(y, s) == pytest.approx(auc_score(y, np.exp(s) * 3 - 1), abs=1e-12)
    assert auc_score(y, -s) == pytest.approx(1 - auc_score(y, s), abs=1e-12)
