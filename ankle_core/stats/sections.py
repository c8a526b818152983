"""The cohort report's sections: ONE list of (compute, figures, titles) read by everyone.

:data:`SECTIONS` is the single list the report is made of. :func:`~ankle_core.stats.report.
build_report` loops over it to fill the :class:`~ankle_core.stats.cohort.CohortReport` (and
so its JSON); :func:`~ankle_core.stats.figures.report_figures` draws its figures for the
HTML report; the dashboard's cohort page shows the figures marked ``on_page``.

Adding a statistical test to the cohort report is its module plus one :class:`Section`
here: a ``compute`` function (a :class:`CohortData` and the results of earlier sections in,
a frozen result out) and, for a figure, a :class:`ReportFigure` naming a builder in
:mod:`ankle_core.stats.figures`. A section whose ``field`` is not an attribute of
``CohortReport`` lands in ``CohortReport.extra`` under that name (and in the JSON).

Figures are named, not imported, so this module (and ``import ankle_core.stats``) does not
load Plotly.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ankle_core.errors import InvalidInputError
from ankle_core.stats._validate import as_binary_truth
from ankle_core.stats.agreement import (
    FleissKappa,
    PairwiseCounts,
    cohen_kappa,
    disagreement_counts,
    fleiss_kappa,
)
from ankle_core.stats.calibration import calibration
from ankle_core.stats.cohort import CohortReport, KappaPair, McNemarPair, ModelReport
from ankle_core.stats.delong import ModelComparison, compare_models
from ankle_core.stats.mcnemar import mcnemar
from ankle_core.stats.metrics import metrics_at
from ankle_core.stats.mrmc import MrmcResult, mrmc_or
from ankle_core.stats.readers import ReaderStudyResult, reader_study
from ankle_core.stats.roc import auc_ci, roc_band, roc_curve
from ankle_core.stats.subgroups import SubgroupAuc, subgroup_auc
from ankle_core.stats.thresholds import Threshold, ThresholdLeakageWarning, choose_threshold

__all__ = ["SECTIONS", "CohortData", "ReportFigure", "Section", "reader_long_table"]

logger = logging.getLogger(__name__)
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CohortData:
    """The validated inputs every section computes from.

    Attributes:
        test: The rows statistics are computed on (all rows without a split).
        val: The rows data-driven thresholds are chosen on (all rows without a split).
        truth: Name of the 0/1 truth column.
        names: Score columns analysed as models.
        y: Shape (N,), 0/1 truth of ``test``.
        scores: Model name -> shape (N,) validated scores of ``test``.
        method: Threshold method (see :func:`~ankle_core.stats.report.parse_threshold_spec`).
        value: Its number (fixed value or target rate), or None.
        split_given: Whether thresholds come from separate validation rows.
        subgroup: Column whose levels get their own AUC, or None.
        reader_pairs: Reader id -> (unaided column, aided column).
        reader_threshold: Turns reader scores into calls, or None (see ``build_report``).
        level: Coverage of every interval.
        n_boot: Bootstrap replicates.
        rng: The one generator of the report, consumed in section order.
        notes: Warnings for the reader of the report; sections append to it.
    """

    test: pd.DataFrame
    val: pd.DataFrame
    truth: str
    names: tuple[str, ...]
    y: IntArray
    scores: Mapping[str, npt.NDArray[np.float64]]
    method: str
    value: float | None
    split_given: bool
    subgroup: str | None
    reader_pairs: Mapping[str, tuple[str, str]]
    reader_threshold: float | None
    level: float
    n_boot: int
    rng: np.random.Generator
    notes: list[str] = field(default_factory=list)

    def calls(self, per_model: Mapping[str, ModelReport], which: str) -> dict[str, IntArray]:
        """Each model's 0/1 calls on ``test``.

        Args:
            per_model: The ``per_model`` section's result (for the chosen thresholds).
            which: ``chosen`` (each model's data-driven threshold) or ``fixed 0.5``.

        Returns:
            Model name -> shape (N,) calls (1 = ``score >= threshold``).
        """
        out = {}
        for name in self.names:
            cut = per_model[name].threshold.value if which == "chosen" else 0.5
            out[name] = (self.scores[name] >= cut).astype(np.int64)
        return out

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Every unordered pair of models, in column order."""
        return [(a, b) for i, a in enumerate(self.names) for b in self.names[i + 1 :]]


Compute = Callable[[CohortData, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class ReportFigure:
    """One figure (or table) of a section.

    Attributes:
        key: Short id; the page's widget key is ``cohort_<key>``.
        title: Heading in the HTML report.
        builder: Name of a function in :mod:`ankle_core.stats.figures` taking the report
            (and ``args``) and returning a Plotly figure.
        args: Extra positional arguments of the builder.
        on_page: Whether the dashboard's cohort page shows it (the HTML shows them all).
        applies: Whether the report has what the figure needs.
    """

    key: str
    title: str
    builder: str
    args: tuple[str, ...] = ()
    on_page: bool = False
    applies: Callable[[CohortReport], bool] = lambda report: True


@dataclass(frozen=True)
class Section:
    """One part of the cohort report: what it computes and how it is drawn.

    Attributes:
        field: Where the result goes: a ``CohortReport`` attribute, else a key of
            ``CohortReport.extra``.
        compute: ``(data, results of earlier sections) -> result``.
        figures: Its figures, in reading order.
    """

    field: str
    compute: Compute
    figures: tuple[ReportFigure, ...] = ()


def _choose(method: str, value: float | None, y: Any, s: Any) -> Threshold:
    if method == "fixed":
        return choose_threshold(method="fixed", value=0.5 if value is None else value)
    return choose_threshold(y, s, method=method, target=value)  # type: ignore[arg-type]


def _per_model(data: CohortData, done: Mapping[str, Any]) -> Mapping[str, ModelReport]:
    y, level, n_boot, rng = data.y, data.level, data.n_boot, data.rng
    val_truth = as_binary_truth(data.val[data.truth].to_numpy())
    out: dict[str, ModelReport] = {}
    for name in data.names:
        s = data.scores[name]
        thr = _choose(data.method, data.value, val_truth, data.val[name].to_numpy())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ThresholdLeakageWarning)  # recorded in `notes`
            chosen = metrics_at(
                y, s, thr, level=level, n_boot=n_boot, rng=rng, allow_same_data=not data.split_given
            )
        calib = calibration(y, s, level=level) if ((s >= 0).all() and (s <= 1).all()) else None
        groups: tuple[SubgroupAuc, ...] = ()
        if data.subgroup is not None:
            groups = subgroup_auc(y, s, data.test[data.subgroup].to_numpy(), level=level)
        out[name] = ModelReport(
            name=name,
            roc=roc_curve(y, s),
            band=roc_band(y, s, rng=rng, n_boot=n_boot, level=level),
            band_simultaneous=roc_band(
                y, s, rng=rng, n_boot=n_boot, level=level, kind="simultaneous"
            ),
            auc_delong=auc_ci(y, s, level=level),
            auc_bootstrap=auc_ci(y, s, method="bootstrap", n_boot=n_boot, rng=rng, level=level),
            auc_bca=auc_ci(y, s, method="bca", n_boot=n_boot, rng=rng, level=level),
            threshold=thr,
            metrics_fixed=metrics_at(y, s, 0.5, level=level, n_boot=n_boot, rng=rng),
            metrics_chosen=chosen,
            calibration=calib,
            subgroups=groups,
        )
    return out


def _comparison(data: CohortData, done: Mapping[str, Any]) -> ModelComparison | None:
    if len(data.names) < 2:
        return None
    return compare_models(data.y, dict(data.scores), level=data.level)


def _mcnemar(data: CohortData, done: Mapping[str, Any]) -> tuple[McNemarPair, ...]:
    return tuple(
        McNemarPair(a, b, label, mcnemar(calls[a], calls[b], data.y))
        for label in ("fixed 0.5", "chosen")
        for calls in (data.calls(done["per_model"], label),)
        for a, b in data.pairs
    )


def _kappa(data: CohortData, done: Mapping[str, Any]) -> tuple[KappaPair, ...]:
    calls = data.calls(done["per_model"], "chosen")
    kappas = []
    for a, b in data.pairs:
        try:
            k = cohen_kappa(calls[a], calls[b], categories=("0", "1"), level=data.level)
            kappas.append(KappaPair(a, b, k))
        except InvalidInputError as exc:
            data.notes.append(f"Cohen's kappa {a} vs {b}: {exc}")
    return tuple(kappas)


def _fleiss(data: CohortData, done: Mapping[str, Any]) -> FleissKappa | None:
    if len(data.names) < 2:
        return None
    calls = data.calls(done["per_model"], "chosen")
    try:
        return fleiss_kappa(np.column_stack([calls[n] for n in data.names]))
    except InvalidInputError as exc:
        data.notes.append(f"Fleiss' kappa: {exc}")
        return None


def _disagreements(data: CohortData, done: Mapping[str, Any]) -> PairwiseCounts | None:
    if len(data.names) < 2:
        return None
    return disagreement_counts(data.calls(done["per_model"], "chosen"))


def reader_long_table(
    test: pd.DataFrame, truth: str, pairs: Mapping[str, tuple[str, str]]
) -> pd.DataFrame:
    """Reader columns as the long table MRMC and the reader study read.

    Args:
        test: One row per case, with the truth, reader columns and optionally ``case``.
        truth: Name of the 0/1 truth column.
        pairs: Reader id -> (unaided column, aided column).

    Returns:
        Columns ``case``, ``reader``, ``condition``, ``truth``, ``score``; one row per
        reader, condition and case.
    """
    parts = []
    case = (
        test["case"].astype(str)
        if "case" in test.columns
        else pd.Series(np.arange(len(test)).astype(str))
    )
    for reader, (col_u, col_a) in pairs.items():
        for cond, col in (("unaided", col_u), ("aided", col_a)):
            parts.append(
                pd.DataFrame(
                    {
                        "case": case.to_numpy(),
                        "reader": reader,
                        "condition": cond,
                        "truth": test[truth].to_numpy(),
                        "score": test[col].to_numpy(),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def _mrmc(data: CohortData, done: Mapping[str, Any]) -> Mapping[str, MrmcResult]:
    if len(data.reader_pairs) < 2:
        if data.reader_pairs:
            data.notes.append(
                "Only one reader has unaided and aided columns: MRMC needs at least two."
            )
        return {}
    long = reader_long_table(data.test, data.truth, data.reader_pairs)
    return {cov: mrmc_or(long, cov, level=data.level) for cov in ("jackknife", "delong")}


def _reader_study(data: CohortData, done: Mapping[str, Any]) -> ReaderStudyResult | None:
    if len(data.reader_pairs) < 2:
        return None
    long = reader_long_table(data.test, data.truth, data.reader_pairs)
    values = long["score"].to_numpy(dtype=np.float64)
    cut = data.reader_threshold
    if cut is None and (values >= 0).all() and (values <= 1).all():
        cut = 0.5
    if cut is None:
        data.notes.append(
            "Reader scores are not probabilities: the reader study (accuracy, sensitivity, "
            "specificity) needs a reader threshold (--reader-threshold, e.g. 3 on a 1-5 scale)."
        )
        return None
    return reader_study(long, threshold=cut, level=data.level)


def _compared(report: CohortReport) -> bool:
    return report.comparison is not None


SECTIONS: tuple[Section, ...] = (
    Section(
        "per_model",
        _per_model,
        (
            ReportFigure("roc", "ROC curves", "roc_figure", on_page=True),
            ReportFigure("auc", "AUC", "auc_table_figure", on_page=True),
            ReportFigure("metrics", "Metrics at thresholds", "metrics_figure"),
            ReportFigure(
                "calibration",
                "Calibration",
                "calibration_figure",
                on_page=True,
                applies=lambda r: any(m.calibration is not None for m in r.per_model.values()),
            ),
            ReportFigure(
                "subgroups",
                "Subgroups",
                "subgroup_figure",
                on_page=True,
                applies=lambda r: r.subgroup is not None,
            ),
        ),
    ),
    Section(
        "comparison",
        _comparison,
        (
            ReportFigure(
                "delong", "DeLong", "delong_matrix_figure", on_page=True, applies=_compared
            ),
        ),
    ),
    Section(
        "mcnemar",
        _mcnemar,
        (
            ReportFigure(
                "mcnemar_fixed",
                "McNemar (0.5)",
                "mcnemar_matrix_figure",
                ("fixed 0.5",),
                applies=_compared,
            ),
            ReportFigure(
                "mcnemar",
                "McNemar (chosen)",
                "mcnemar_matrix_figure",
                ("chosen",),
                on_page=True,
                applies=_compared,
            ),
        ),
    ),
    Section(
        "kappa",
        _kappa,
        (ReportFigure("kappa", "Kappa", "kappa_figure", applies=_compared),),
    ),
    Section("fleiss", _fleiss),  # drawn in the kappa figure's title
    Section("disagreements", _disagreements),
    Section(
        "mrmc",
        _mrmc,
        (ReportFigure("mrmc", "MRMC", "mrmc_figure", applies=lambda r: bool(r.mrmc)),),
    ),
    Section(
        "reader_study",
        _reader_study,
        (
            ReportFigure(
                "reader_study",
                "Reader study",
                "reader_study_figure",
                applies=lambda r: r.reader_study is not None,
            ),
        ),
    ),
)
"""The cohort report, in reading order."""
