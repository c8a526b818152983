"""Multi-reader multi-case (MRMC) analysis: Obuchowski–Rockette with Hillis' df.

Each reader j reads every case under each test (condition) i; θ_ij is a figure of merit
(FOM: empirical AUC, accuracy, sensitivity or specificity). The OR model treats the
θ_ij's error terms as correlated: Var, Cov1 (same reader, different test), Cov2 (different
reader, same test), Cov3 (different reader and test), estimated from the DeLong or the
jackknife covariance matrix of all t·r FOMs. With the mean squares MS(T), MS(R), MS(TR):

- random readers and cases (RRRC): F = MS(T) / [MS(TR) + r·max(Cov2 − Cov3, 0)],
  ddf_H = [MS(TR) + r·max(Cov2 − Cov3, 0)]² / [MS(TR)² / ((t − 1)(r − 1))] (Hillis 2007);
- fixed readers (FRRC): X² = (t − 1)·MS(T) / [Var − Cov1 + (r − 1)(Cov2 − Cov3)], χ²(t − 1);
- fixed cases (RRFC): F = MS(T)/MS(TR), df (t − 1, (t − 1)(r − 1)).

The numbers match MRMCaov / RJafroc (tested on the Van Dyke et al. 1993 data).

References:
    Obuchowski NA, Rockette HE (1995). Hypothesis testing of diagnostic accuracy for
    multiple readers and multiple tests: an ANOVA approach with dependent observations.
    Commun Stat Simul Comput 24:285–308.
    Hillis SL (2007). A comparison of denominator degrees of freedom methods for multiple
    observer ROC studies. Stat Med 26:596–619.
    Hillis SL, Obuchowski NA, Berbaum KS (2008). Recent developments in the Dorfman–Berbaum–
    Metz procedure for multireader ROC study analysis. Acad Radiol 15:647–661.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from ankle_core.errors import InvalidInputError
from ankle_core.stats._readertable import parse_reader_table
from ankle_core.stats._result import Result, frozen_array
from ankle_core.stats._validate import as_level, check_binary_task
from ankle_core.stats.fom import Covariance, Fom, fom_covariance

__all__ = [
    "MrmcComparison",
    "MrmcResult",
    "MrmcTest",
    "TreatmentEstimate",
    "VarianceComponents",
    "mrmc_or",
    "mrmc_or_arrays",
]

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class VarianceComponents(Result):
    """OR variance components and mean squares.

    Attributes:
        var_r: σ²_R = [MS(R) − Var − (t−1)Cov1 + Cov2 + (t−1)Cov3 − σ²_TR]/t.
        var_tr: σ²_TR = MS(TR) − Var + Cov1 + Cov2 − Cov3.
        cov1: Same reader, different test.
        cov2: Different reader, same test.
        cov3: Different reader, different test.
        var_error: Var, the mean FOM variance.
        ms_t: MS(T).
        ms_r: MS(R).
        ms_tr: MS(TR).
    """

    var_r: float
    var_tr: float
    cov1: float
    cov2: float
    cov3: float
    var_error: float
    ms_t: float
    ms_r: float
    ms_tr: float


@dataclass(frozen=True)
class MrmcComparison(Result):
    """One pairwise difference of reader-averaged FOMs, test_b − test_a.

    Attributes:
        test_a: Reference test (e.g. ``unaided``).
        test_b: Compared test (e.g. ``aided``).
        difference: θ_b. − θ_a.
        se: Standard error.
        df: Degrees of freedom (inf for a normal reference).
        statistic: difference / se (t or z).
        p_value: Two-sided p-value.
        ci_low: Lower limit.
        ci_high: Upper limit.
    """

    test_a: str
    test_b: str
    difference: float
    se: float
    df: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class TreatmentEstimate(Result):
    """Reader-averaged FOM of one test, with a CI from that test's data alone.

    Attributes:
        test: The test.
        estimate: θ_i. (mean over readers).
        se: Standard error.
        df: Degrees of freedom (inf for fixed readers).
        ci_low: Lower limit.
        ci_high: Upper limit.
    """

    test: str
    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class MrmcTest(Result):
    """The global test of equal FOMs for one generalisation (RRRC, FRRC or RRFC).

    Attributes:
        analysis: ``RRRC``, ``FRRC`` or ``RRFC``.
        statistic: F (RRRC, RRFC) or X² (FRRC).
        df1: Numerator degrees of freedom, t − 1.
        df2: Denominator degrees of freedom (inf for FRRC's χ²).
        p_value: p-value.
        comparisons: Pairwise differences.
        estimates: Per-test reader-averaged FOMs with CIs.
    """

    analysis: str
    statistic: float
    df1: float
    df2: float
    p_value: float
    comparisons: tuple[MrmcComparison, ...]
    estimates: tuple[TreatmentEstimate, ...]


@dataclass(frozen=True)
class MrmcResult(Result):
    """An Obuchowski–Rockette MRMC analysis.

    Attributes:
        fom: Figure of merit.
        covariance: ``delong`` or ``jackknife``.
        tests: The t tests (conditions), in order.
        readers: The r readers.
        n_cases: Cases (c).
        n_pos: Positive cases.
        n_neg: Negative cases.
        foms: Shape (t, r), each reader's FOM under each test.
        fom_covariance: Shape (t·r, t·r).
        components: Variance components and mean squares.
        rrrc: Random readers and cases (the main analysis; Hillis df).
        frrc: Fixed readers, random cases.
        rrfc: Random readers, fixed cases.
        level: Coverage of the CIs.
    """

    fom: str
    covariance: str
    tests: tuple[str, ...]
    readers: tuple[str, ...]
    n_cases: int
    n_pos: int
    n_neg: int
    foms: FloatArray
    fom_covariance: FloatArray
    components: VarianceComponents
    rrrc: MrmcTest
    frrc: MrmcTest
    rrfc: MrmcTest
    level: float

    @property
    def difference(self) -> MrmcComparison:
        """The RRRC comparison of the last test against the first (aided − unaided)."""
        return self.rrrc.comparisons[-1] if len(self.tests) == 2 else self.rrrc.comparisons[0]


def _mean_cov(cov: FloatArray, mask: npt.NDArray[np.bool_]) -> float:
    return float(cov[mask].mean()) if mask.any() else float("nan")


def _t_interval(
    est: float, se: float, df: float, level: float
) -> tuple[float, float, float, float]:
    """Return statistic, p, low, high for a t (or normal when df is inf) reference."""
    dist = stats.norm if not np.isfinite(df) else stats.t(df)
    q = float(dist.ppf(0.5 + level / 2.0))
    stat = est / se if se > 0 else (0.0 if est == 0 else float(np.sign(est) * np.inf))
    p = float(2.0 * dist.sf(abs(stat)))
    return float(stat), p, est - q * se, est + q * se


def _f_p(stat: float, df1: float, df2: float) -> float:
    if not np.isfinite(df2):
        return float(stats.chi2.sf(stat * df1, df1))
    return float(stats.f.sf(stat, df1, df2))


def mrmc_or_arrays(
    values: npt.ArrayLike,
    truth: npt.ArrayLike,
    *,
    covariance: Covariance = "jackknife",
    fom: Fom = "auc",
    tests: tuple[str, ...] | None = None,
    readers: tuple[str, ...] | None = None,
    level: float = 0.95,
) -> MrmcResult:
    """Obuchowski–Rockette (1995) analysis with Hillis (2007) df, from arrays.

    Args:
        values: Shape (t, r, c): each test × reader's scores (``auc``) or 0/1 calls.
        truth: Shape (c,), 0/1.
        covariance: ``jackknife`` or ``delong`` (Hillis, Obuchowski & Berbaum 2008).
        fom: ``auc``, ``accuracy``, ``sensitivity`` or ``specificity``.
        tests: Names of the t tests; default ``test_1``...
        readers: Names of the r readers; default ``reader_1``...
        level: Coverage of the CIs.

    Returns:
        The RRRC, FRRC and RRFC analyses with variance components.
    """
    level = as_level(level)
    if covariance not in ("jackknife", "delong"):
        raise InvalidInputError(f"covariance must be 'delong' or 'jackknife'; got {covariance!r}.")
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise InvalidInputError("MRMC needs values shaped (tests ≥ 2, readers ≥ 2, cases).")
    t, r, c = arr.shape
    y, _ = check_binary_task(truth)
    if y.size != c:
        raise InvalidInputError(f"the truth has {y.size} cases but the readings have {c}.")
    if not np.isfinite(arr).all():
        raise InvalidInputError("the readings contain NaN or infinite values.")
    tests = tests or tuple(f"test_{i + 1}" for i in range(t))
    readers = readers or tuple(f"reader_{j + 1}" for j in range(r))
    foms, cov = fom_covariance(arr, y, fom, covariance)
    ti = np.repeat(np.arange(t), r)
    rj = np.tile(np.arange(r), t)
    same_t = ti[:, None] == ti[None, :]
    same_r = rj[:, None] == rj[None, :]
    var = float(np.mean(np.diag(cov)))
    cov1 = _mean_cov(cov, ~same_t & same_r)
    cov2 = _mean_cov(cov, same_t & ~same_r)
    cov3 = _mean_cov(cov, ~same_t & ~same_r)
    grand = foms.mean()
    t_means = foms.mean(axis=1)
    r_means = foms.mean(axis=0)
    ms_t = r * float(np.sum((t_means - grand) ** 2)) / (t - 1)
    ms_r = t * float(np.sum((r_means - grand) ** 2)) / (r - 1)
    resid = foms - t_means[:, None] - r_means[None, :] + grand
    ms_tr = float(np.sum(resid**2)) / ((t - 1) * (r - 1))
    var_tr = ms_tr - var + cov1 + cov2 - cov3
    var_r = (ms_r - var - (t - 1) * cov1 + cov2 + (t - 1) * cov3 - var_tr) / t
    comps = VarianceComponents(var_r, var_tr, cov1, cov2, cov3, var, ms_t, ms_r, ms_tr)

    def per_test(i: int, analysis: str) -> TreatmentEstimate:
        idx = ti == i
        sub = cov[np.ix_(idx, idx)]
        off = ~np.eye(r, dtype=bool)
        cov2_i = float(sub[off].mean())
        ms_r_i = float(np.sum((foms[i] - t_means[i]) ** 2)) / (r - 1)
        if analysis == "RRRC":
            se = np.sqrt(ms_r_i / r + max(cov2_i, 0.0))
            df = (
                (ms_r_i + r * max(cov2_i, 0.0)) ** 2 / (ms_r_i**2 / (r - 1))
                if ms_r_i > 0
                else np.inf
            )
        elif analysis == "FRRC":
            se, df = np.sqrt((float(np.mean(np.diag(sub))) + (r - 1) * cov2_i) / r), np.inf
        else:
            se, df = np.sqrt(ms_r_i / r), float(r - 1)
        _, _, lo, hi = _t_interval(float(t_means[i]), float(se), float(df), level)
        return TreatmentEstimate(tests[i], float(t_means[i]), float(se), float(df), lo, hi)

    def analysis(name: str, den: float, df2: float, stat: float) -> MrmcTest:
        p = _f_p(stat, t - 1, df2) if name != "FRRC" else float(stats.chi2.sf(stat, t - 1))
        se = float(np.sqrt(max(2.0 / r * den, 0.0)))
        pairs = []
        for a, b in itertools.combinations(range(t), 2):
            diff = float(t_means[b] - t_means[a])
            st, pv, lo, hi = _t_interval(diff, se, df2, level)
            pairs.append(MrmcComparison(tests[a], tests[b], diff, se, float(df2), st, pv, lo, hi))
        return MrmcTest(
            name,
            float(stat),
            float(t - 1),
            float(df2),
            p,
            tuple(pairs),
            tuple(per_test(i, name) for i in range(t)),
        )

    den_rrrc = ms_tr + r * max(cov2 - cov3, 0.0)
    df_h = den_rrrc**2 / (ms_tr**2 / ((t - 1) * (r - 1))) if ms_tr > 0 else np.inf
    f_rrrc = ms_t / den_rrrc if den_rrrc > 0 else float("nan")
    den_frrc = var - cov1 + (r - 1) * (cov2 - cov3)
    x2 = (t - 1) * ms_t / den_frrc if den_frrc > 0 else float("nan")
    f_rrfc = ms_t / ms_tr if ms_tr > 0 else float("nan")
    n_pos = int(y.sum())
    return MrmcResult(
        fom=fom,
        covariance=covariance,
        tests=tuple(tests),
        readers=tuple(readers),
        n_cases=int(c),
        n_pos=n_pos,
        n_neg=int(c - n_pos),
        foms=frozen_array(foms),
        fom_covariance=frozen_array(cov),
        components=comps,
        rrrc=analysis("RRRC", den_rrrc, float(df_h), f_rrrc),
        frrc=analysis("FRRC", den_frrc, np.inf, x2),
        rrfc=analysis("RRFC", ms_tr, float((t - 1) * (r - 1)), f_rrfc),
        level=level,
    )


def mrmc_or(
    table: Any,
    covariance: Covariance = "jackknife",
    *,
    fom: Fom = "auc",
    threshold: float = 0.5,
    level: float = 0.95,
) -> MrmcResult:
    """Obuchowski–Rockette MRMC analysis of a long reader table (Hillis 2007 df).

    The AUC uses the ``score`` column (ratings; higher = more confident of a fracture).
    Binary FOMs use the ``call`` column if present, else ``score >= threshold``.
    Differences are aided − unaided.

    Args:
        table: pandas DataFrame with ``case``, ``reader``, ``condition`` (``unaided`` /
            ``aided``), ``truth`` and ``score`` and/or ``call``; fully crossed.
        covariance: ``jackknife`` or ``delong`` (Hillis, Obuchowski & Berbaum 2008).
        fom: ``auc``, ``accuracy``, ``sensitivity`` or ``specificity``.
        threshold: Turns scores into calls for binary FOMs when there is no ``call`` column.
        level: Coverage.

    Returns:
        The analysis; ``result.rrrc`` is the random-reader random-case analysis and
        ``result.frrc`` the fixed-reader one.
    """
    if fom == "auc":
        data = parse_reader_table(table, "score")
        values = data.values
    elif "call" in getattr(table, "columns", ()):
        data = parse_reader_table(table, "call")
        values = data.values
    else:
        data = parse_reader_table(table, "score")
        values = (data.values >= threshold).astype(np.float64)
    return mrmc_or_arrays(
        values,
        data.truth,
        covariance=covariance,
        fom=fom,
        tests=data.conditions,
        readers=data.readers,
        level=level,
    )
