"""Fixtures for the statistics tests: small synthetic cohorts and the Van Dyke reader study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def cohort() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """120 cases, two correlated scores rounded to create ties."""
    rng = np.random.default_rng(20240601)
    y = np.r_[np.ones(50, dtype=int), np.zeros(70, dtype=int)]
    shared = rng.normal(size=120)
    a = np.round(1.2 * y + shared + 0.5 * rng.normal(size=120), 1)
    b = np.round(0.8 * y + shared + 0.8 * rng.normal(size=120), 1)
    order = rng.permutation(120)
    return y[order], a[order], b[order]


@pytest.fixture(scope="session")
def vandyke_wide() -> pd.DataFrame:
    """Van Dyke et al. (1993): 5 readers x 114 cases x 2 treatments, ratings 1-5."""
    return pd.read_csv(DATA / "vandyke.csv", comment="#")


@pytest.fixture(scope="session")
def vandyke_long(vandyke_wide: pd.DataFrame) -> pd.DataFrame:
    """The Van Dyke data as a long reader table (treatment 1 = unaided, 2 = aided)."""
    parts = []
    for cond, col in (("unaided", "rating_treatment_1"), ("aided", "rating_treatment_2")):
        part = vandyke_wide[["case", "reader", "truth"]].copy()
        part["condition"] = cond
        part["score"] = vandyke_wide[col]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def slow_delong(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) straight from the paper: O(m·n) placement values."""
    scores = np.atleast_2d(scores)
    x = scores[:, y == 1]
    z = scores[:, y == 0]
    k, m = x.shape
    n = z.shape[1]
    v10 = np.zeros((k, m))
    v01 = np.zeros((k, n))
    for r in range(k):
        for i in range(m):
            for j in range(n):
                psi = 1.0 if x[r, i] > z[r, j] else 0.5 if x[r, i] == z[r, j] else 0.0
                v10[r, i] += psi / n
                v01[r, j] += psi / m
    aucs = v10.mean(axis=1)
    s10 = np.zeros((k, k))
    s01 = np.zeros((k, k))
    for a in range(k):
        for b in range(k):
            s10[a, b] = np.sum((v10[a] - aucs[a]) * (v10[b] - aucs[b])) / (m - 1)
            s01[a, b] = np.sum((v01[a] - aucs[a]) * (v01[b] - aucs[b])) / (n - 1)
    return aucs, s10 / m + s01 / n
