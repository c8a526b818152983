"""Frozen result types of the cohort report (built by :mod:`ankle_core.stats.report`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ankle_core.stats._result import Result
from ankle_core.stats.agreement import CohenKappa, FleissKappa, PairwiseCounts
from ankle_core.stats.calibration import CalibrationResult
from ankle_core.stats.delong import ModelComparison
from ankle_core.stats.mcnemar import McNemarResult
from ankle_core.stats.metrics import ThresholdMetrics
from ankle_core.stats.mrmc import MrmcResult
from ankle_core.stats.readers import ReaderStudyResult
from ankle_core.stats.roc import AucWithCI, RocBand, RocCurve
from ankle_core.stats.subgroups import SubgroupAuc
from ankle_core.stats.thresholds import Threshold

__all__ = ["CohortReport", "KappaPair", "McNemarPair", "ModelReport"]


@dataclass(frozen=True)
class ModelReport(Result):
    """Everything about one model (or reader column) on the test cases.

    Attributes:
        name: Column name.
        roc: The ROC curve.
        band: Pointwise bootstrap band of sensitivity on a 0.01-step FPR grid.
        band_simultaneous: Simultaneous (whole-curve) bootstrap band on the same grid.
        auc_delong: AUC with DeLong CI.
        auc_bootstrap: AUC with stratified percentile bootstrap CI.
        auc_bca: AUC with BCa bootstrap CI.
        threshold: The data-driven threshold (from validation rows when a split is given).
        metrics_fixed: Metrics at 0.5.
        metrics_chosen: Metrics at ``threshold``.
        calibration: Calibration, when every score lies in [0, 1]; else None.
        subgroups: AUC per subgroup level (empty without a subgroup column).
    """

    name: str
    roc: RocCurve
    band: RocBand
    band_simultaneous: RocBand
    auc_delong: AucWithCI
    auc_bootstrap: AucWithCI
    auc_bca: AucWithCI
    threshold: Threshold
    metrics_fixed: ThresholdMetrics
    metrics_chosen: ThresholdMetrics
    calibration: CalibrationResult | None
    subgroups: tuple[SubgroupAuc, ...]


@dataclass(frozen=True)
class McNemarPair(Result):
    """McNemar's test between two models' calls.

    Attributes:
        model_a: First model.
        model_b: Second model.
        threshold: ``fixed 0.5`` or ``chosen``.
        test: The test (difference = accuracy a − accuracy b).
    """

    model_a: str
    model_b: str
    threshold: str
    test: McNemarResult


@dataclass(frozen=True)
class KappaPair(Result):
    """Cohen's kappa between two models' calls at their chosen thresholds.

    Attributes:
        model_a: First model.
        model_b: Second model.
        kappa: The result.
    """

    model_a: str
    model_b: str
    kappa: CohenKappa


@dataclass(frozen=True)
class CohortReport(Result):
    """Every number of a cohort report (JSON via ``to_dict()``).

    Attributes:
        truth: Name of the truth column.
        models: Names of the analysed score columns.
        n: Test cases.
        n_pos: Positive test cases.
        n_neg: Negative test cases.
        n_validation: Validation cases (0 without a split).
        level: Coverage of every interval.
        n_boot: Bootstrap replicates.
        seed: Seed of the report's ``np.random.Generator``.
        threshold_method: How thresholds were chosen.
        threshold_source: ``validation split``, ``same data (optimistic)`` or ``fixed``.
        subgroup: Name of the subgroup column, or None.
        per_model: Model name -> its report.
        comparison: Pairwise DeLong tests with Holm p-values (None for one model).
        mcnemar: Pairwise McNemar tests at 0.5 and at the chosen thresholds.
        kappa: Pairwise Cohen's kappa at the chosen thresholds.
        fleiss: Fleiss' kappa among all models (None for fewer than 2).
        disagreements: Pairwise disagreement counts at the chosen thresholds.
        readers: Reader ids found in ``reader_<id>_unaided/aided`` columns.
        mrmc: Covariance method -> OR analysis of reader AUC (empty without readers).
        reader_study: Per-reader accuracy etc. with tests (None without readers).
        warnings: Things the reader of the report must know.
        extra: Results of sections (:data:`ankle_core.stats.sections.SECTIONS`) that have
            no attribute of their own, by section ``field`` (empty today).
    """

    truth: str
    models: tuple[str, ...]
    n: int
    n_pos: int
    n_neg: int
    n_validation: int
    level: float
    n_boot: int
    seed: int
    threshold_method: str
    threshold_source: str
    subgroup: str | None
    per_model: Mapping[str, ModelReport]
    comparison: ModelComparison | None
    mcnemar: tuple[McNemarPair, ...]
    kappa: tuple[KappaPair, ...]
    fleiss: FleissKappa | None
    disagreements: PairwiseCounts | None
    readers: tuple[str, ...]
    mrmc: Mapping[str, MrmcResult]
    reader_study: ReaderStudyResult | None
    warnings: tuple[str, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)
