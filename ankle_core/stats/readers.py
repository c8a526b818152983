"""Reader studies: each reader's accuracy, sensitivity and specificity without and with AI.

Per reader and condition: Wilson (1927) intervals. Per reader, aided vs unaided: McNemar's
(1947) exact test on the correctness of the two reads of each case. Pooled across readers,
two analyses (reported side by side, documented in docs/statistics.md):

1. the Obuchowski–Rockette MRMC analysis of each binary figure of merit (accuracy,
   sensitivity, specificity) with jackknife covariance and Hillis (2007) df: readers *and*
   cases random, the standard for generalising to new readers and new patients;
2. a paired t-test of the per-reader differences (readers random, cases fixed), the
   simpler analysis many papers report.

References:
    McNemar Q (1947) Psychometrika 12:153–157; Wilson EB (1927) JASA 22:209–212;
    Obuchowski NA, Rockette HE (1995) Commun Stat Simul Comput 24:285–308;
    Hillis SL (2007) Stat Med 26:596–619.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ankle_core.stats._readertable import CONDITIONS, parse_reader_table
from ankle_core.stats._result import Result
from ankle_core.stats._validate import as_level
from ankle_core.stats.mcnemar import McNemarResult, mcnemar
from ankle_core.stats.metrics import Metric, wilson_interval
from ankle_core.stats.mrmc import MrmcResult, mrmc_or_arrays

__all__ = ["PairedReaderTest", "ReaderMetrics", "ReaderStudyResult", "reader_study"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReaderMetrics(Result):
    """One reader under one condition.

    Attributes:
        reader: Reader identifier.
        condition: ``unaided`` or ``aided``.
        accuracy: With Wilson CI.
        sensitivity: With Wilson CI.
        specificity: With Wilson CI.
    """

    reader: str
    condition: str
    accuracy: Metric
    sensitivity: Metric
    specificity: Metric


@dataclass(frozen=True)
class PairedReaderTest(Result):
    """A pooled paired t-test of aided − unaided across readers (readers random).

    Attributes:
        metric: ``accuracy``, ``sensitivity`` or ``specificity``.
        mean_difference: Mean over readers of aided − unaided.
        ci_low: t-interval lower limit.
        ci_high: t-interval upper limit.
        statistic: t.
        df: r − 1.
        p_value: Two-sided p-value (NaN when every reader's difference is identical).
    """

    metric: str
    mean_difference: float
    ci_low: float
    ci_high: float
    statistic: float
    df: int
    p_value: float


@dataclass(frozen=True)
class ReaderStudyResult(Result):
    """Everything about a with/without-AI reader study at the readers' decision level.

    Attributes:
        readers: Reader identifiers.
        n_cases: Cases.
        n_pos: Positive cases.
        per_reader: One entry per reader and condition.
        mcnemar: Reader -> McNemar test of correctness, aided (a) vs unaided (b).
        paired_t: The paired t-test per metric.
        mrmc: Metric -> OR analysis (jackknife, Hillis df) of that binary FOM.
        call_source: ``call`` column or ``score >= threshold``.
        level: Coverage.
    """

    readers: tuple[str, ...]
    n_cases: int
    n_pos: int
    per_reader: tuple[ReaderMetrics, ...]
    mcnemar: dict[str, McNemarResult]
    paired_t: tuple[PairedReaderTest, ...]
    mrmc: dict[str, MrmcResult]
    call_source: str
    level: float


def _metric(num: int, den: int, level: float) -> Metric:
    lo, hi = wilson_interval(num, den, level)
    nan = float("nan")
    return Metric(num / den if den else nan, num, den, lo, hi, nan, nan)


def reader_study(table: Any, *, threshold: float = 0.5, level: float = 0.95) -> ReaderStudyResult:
    """Analyse a reader study read without and with the AI's predictions.

    Args:
        table: pandas DataFrame with columns ``case``, ``reader``, ``condition``
            (``unaided`` or ``aided``), ``truth`` (0/1) and ``call`` (0/1) or ``score``;
            fully crossed (each reader reads each case once per condition).
        threshold: Calls are ``score >= threshold`` when there is no ``call`` column.
        level: Coverage of every interval.

    Returns:
        Per-reader metrics and tests, and the pooled analyses.

    Raises:
        InvalidInputError: see :func:`ankle_core.stats._readertable.parse_reader_table`.
    """
    level = as_level(level)
    if "call" in getattr(table, "columns", ()):
        data = parse_reader_table(table, "call")
        calls = data.values.astype(np.int64)
        source = "call column"
    else:
        data = parse_reader_table(table, "score")
        calls = (data.values >= threshold).astype(np.int64)
        source = f"score >= {threshold:g}"
    truth = data.truth
    pos = truth == 1
    correct = calls == truth[None, None, :]
    per_reader = []
    diffs: dict[str, list[float]] = {"accuracy": [], "sensitivity": [], "specificity": []}
    tests = {}
    for j, reader in enumerate(data.readers):
        for i, cond in enumerate(CONDITIONS):
            c = correct[i, j]
            per_reader.append(
                ReaderMetrics(
                    reader,
                    cond,
                    _metric(int(c.sum()), c.size, level),
                    _metric(int(c[pos].sum()), int(pos.sum()), level),
                    _metric(int(c[~pos].sum()), int((~pos).sum()), level),
                )
            )
        unaided, aided = correct[0, j], correct[1, j]
        diffs["accuracy"].append(float(aided.mean() - unaided.mean()))
        diffs["sensitivity"].append(float(aided[pos].mean() - unaided[pos].mean()))
        diffs["specificity"].append(float(aided[~pos].mean() - unaided[~pos].mean()))
        tests[reader] = mcnemar(calls[1, j], calls[0, j], truth)
    paired = []
    r = len(data.readers)
    q = float(stats.t.ppf(0.5 + level / 2.0, r - 1))
    for name, d in diffs.items():
        arr = np.asarray(d)
        mean = float(arr.mean())
        se = float(arr.std(ddof=1) / np.sqrt(r))
        t_stat = mean / se if se > 0 else float("nan")
        p = float(2.0 * stats.t.sf(abs(t_stat), r - 1)) if se > 0 else float("nan")
        paired.append(PairedReaderTest(name, mean, mean - q * se, mean + q * se, t_stat, r - 1, p))
    mrmc = {
        fom: mrmc_or_arrays(
            calls.astype(np.float64),
            truth,
            covariance="jackknife",
            fom=fom,
            tests=CONDITIONS,
            readers=data.readers,
            level=level,
        )
        for fom in ("accuracy", "sensitivity", "specificity")
    }
    return ReaderStudyResult(
        readers=data.readers,
        n_cases=int(truth.size),
        n_pos=int(pos.sum()),
        per_reader=tuple(per_reader),
        mcnemar=tests,
        paired_t=tuple(paired),
        mrmc=mrmc,
        call_source=source,
        level=level,
    )
