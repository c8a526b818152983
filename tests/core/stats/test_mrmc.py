"""Obuchowski–Rockette MRMC: published Van Dyke results and a slow direct implementation."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from ankle_core.errors import InvalidInputError
from ankle_core.stats import mrmc_or, mrmc_or_arrays
from tests.core.stats.conftest import slow_delong


def test_vandyke_jackknife_matches_mrmcaov(vandyke_long):
    """Numbers printed by MRMCaov's README for ``mrmc(empirical_auc(truth, rating), ...)``
    on its VanDyke data (the same as RJafroc's StSignificanceTesting(dataset02, "Wilcoxon",
    method = "OR"): F 4.456319, ddf 15.25967, p 0.05166569)."""
    res = mrmc_or(vandyke_long, "jackknife")
    c = res.components
    assert c.var_r == pytest.approx(0.0015349993, abs=1e-10)
    assert c.var_tr == pytest.approx(0.0002004025, abs=1e-10)
    assert c.var_error == pytest.approx(0.0008022883, abs=1e-10)
    assert c.cov1 == pytest.approx(0.0003466137, abs=1e-10)
    assert c.cov2 == pytest.approx(0.0003440748, abs=1e-10)
    assert c.cov3 == pytest.approx(0.0002390284, abs=1e-10)
    assert c.ms_t == pytest.approx(0.004796171, abs=1e-9)
    assert c.ms_tr == pytest.approx(0.0005510306, abs=1e-10)
    assert res.rrrc.statistic == pytest.approx(4.456319, abs=1e-6)
    assert res.rrrc.df2 == pytest.approx(15.25967, abs=1e-5)
    assert res.rrrc.p_value == pytest.approx(0.05166569, abs=1e-8)
    diff = res.difference  # aided (treatment 2) - unaided (treatment 1)
    assert diff.difference == pytest.approx(0.04380032, abs=1e-8)
    assert diff.se == pytest.approx(0.02074862, abs=1e-8)
    assert (diff.ci_low, diff.ci_high) == pytest.approx((-0.0003588544, 0.0879594986), abs=1e-9)
    est = res.rrrc.estimates
    assert est[0].estimate == pytest.approx(0.8970370, abs=1e-7)
    assert est[0].se == pytest.approx(0.03317360, abs=1e-8)
    assert est[0].df == pytest.approx(12.74465, abs=1e-5)
    assert est[1].ci_high == pytest.approx(0.9875369, abs=1e-7)


def slow_or(values, truth, covariance):
    """Obuchowski–Rockette written out with loops, for the test."""
    t, r, c = values.shape
    theta = np.array([[roc_auc_score(truth, values[i, j]) for j in range(r)] for i in range(t)])
    keys = list(itertools.product(range(t), range(r)))
    if covariance == "delong":
        _, cov = slow_delong(truth, np.array([values[i, j] for i, j in keys]))
    else:
        jk = np.zeros((t * r, c))
        for k in range(c):
            keep = np.arange(c) != k
            for q, (i, j) in enumerate(keys):
                jk[q, k] = roc_auc_score(truth[keep], values[i, j, keep])
        cov = np.zeros((t * r, t * r))
        for a in range(t * r):
            for b in range(t * r):
                cov[a, b] = (c - 1) / c * np.sum((jk[a] - jk[a].mean()) * (jk[b] - jk[b].mean()))
    groups: dict[str, list[float]] = {"var": [], "cov1": [], "cov2": [], "cov3": []}
    for (qa, (i, j)), (qb, (i2, j2)) in itertools.product(enumerate(keys), repeat=2):
        key = "var" if (i, j) == (i2, j2) else "cov1" if j == j2 else "cov2" if i == i2 else "cov3"
        groups[key].append(cov[qa, qb])
    var, cov1, cov2, cov3 = (np.mean(groups[k]) for k in ("var", "cov1", "cov2", "cov3"))
    grand = theta.mean()
    ms_t = r * sum((theta[i].mean() - grand) ** 2 for i in range(t)) / (t - 1)
    ms_tr = sum(
        (theta[i, j] - theta[i].mean() - theta[:, j].mean() + grand) ** 2
        for i in range(t)
        for j in range(r)
    ) / ((t - 1) * (r - 1))
    den = ms_tr + r * max(cov2 - cov3, 0)
    f = ms_t / den
    ddf = den**2 / (ms_tr**2 / ((t - 1) * (r - 1)))
    return dict(var=var, cov1=cov1, cov2=cov2, cov3=cov3, f=f, ddf=ddf, p=stats.f.sf(f, t - 1, ddf))


@pytest.mark.parametrize("covariance", ["delong", "jackknife"])
def test_matches_slow_direct_implementation(covariance):
    rng = np.random.default_rng(11)
    t, r, c = 3, 4, 40
    truth = np.r_[np.ones(15, dtype=int), np.zeros(25, dtype=int)]
    case_effect = rng.normal(size=c)
    values = np.round(
        truth * np.array([1.0, 1.3, 1.6])[:, None, None] + case_effect + rng.normal(size=(t, r, c)),
        1,
    )
    fast = mrmc_or_arrays(values, truth, covariance=covariance)
    slow = slow_or(values, truth, covariance)
    c_ = fast.components
    assert (c_.var_error, c_.cov1, c_.cov2, c_.cov3) == pytest.approx(
        (slow["var"], slow["cov1"], slow["cov2"], slow["cov3"]), rel=1e-9
    )
    assert fast.rrrc.statistic == pytest.approx(slow["f"], rel=1e-9)
    assert fast.rrrc.df2 == pytest.approx(slow["ddf"], rel=1e-9)
    assert fast.rrrc.p_value == pytest.approx(slow["p"], rel=1e-8)
    assert len(fast.rrrc.comparisons) == 3


def test_fixed_readers_variant(vandyke_long):
    res = mrmc_or(vandyke_long, "jackknife")
    c = res.components
    den = c.var_error - c.cov1 + 4 * (c.cov2 - c.cov3)
    assert res.frrc.statistic == pytest.approx(c.ms_t / den)
    assert res.frrc.p_value == pytest.approx(stats.chi2.sf(c.ms_t / den, 1))
    assert res.rrfc.statistic == pytest.approx(c.ms_t / c.ms_tr)


def test_reader_table_errors(vandyke_long):
    with pytest.raises(InvalidInputError, match="lack one condition"):
        mrmc_or(vandyke_long[~((vandyke_long.reader == 2) & (vandyke_long.condition == "aided"))])
    with pytest.raises(InvalidInputError, match="duplicated"):
        mrmc_or(pd.concat([vandyke_long, vandyke_long.iloc[:1]]))
    with pytest.raises(InvalidInputError, match="no 'aided'"):
        mrmc_or(vandyke_long[vandyke_long.condition == "unaided"])
    with pytest.raises(InvalidInputError, match="not fully crossed"):
        mrmc_or(vandyke_long.iloc[1:])


@pytest.mark.parametrize("fom", ["accuracy", "sensitivity", "specificity"])
def test_binary_fom_jackknife_equals_brute_force(fom):
    from ankle_core.stats.fom import fom_covariance

    rng = np.random.default_rng(4)
    truth = np.r_[np.ones(8, dtype=int), np.zeros(12, dtype=int)]
    calls = (rng.uniform(size=(2, 3, 20)) < 0.5 + 0.3 * (2 * truth - 1)).astype(float)

    def value(c: np.ndarray, t: np.ndarray) -> float:
        sel = {"accuracy": np.ones(t.size, bool), "sensitivity": t == 1, "specificity": t == 0}[fom]
        return float((c[sel] == t[sel]).mean())

    foms, cov = fom_covariance(calls, truth, fom, "jackknife")
    flat = calls.reshape(6, 20)
    jk = np.array(
        [[value(np.delete(row, k), np.delete(truth, k)) for k in range(20)] for row in flat]
    )
    centred = jk - jk.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(cov, 19 / 20 * centred @ centred.T, atol=1e-15)
    np.testing.assert_allclose(foms.ravel(), [value(row, truth) for row in flat])
