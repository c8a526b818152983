"""ankle_core.stats: cohort statistics for fracture-AI models and reader studies.

Pure, typed functions: numpy arrays (or a long pandas table for reader studies) in, frozen
results with ``to_dict()`` out. Conventions everywhere: the positive class is 1; a higher
score means "more likely positive"; a case is called positive when ``score >= threshold``;
a tie between a positive and a negative counts 1/2 in the AUC. Randomness only comes from
an explicit ``np.random.Generator``. Bad input raises
:class:`ankle_core.errors.InvalidInputError`. Methods and references: docs/statistics.md.

Modules: ``roc`` (curves, AUC CIs, bands), ``bootstrap``, ``delong`` (Sun & Xu's fast
DeLong, multi-model comparison), ``mcnemar`` (paired calls), ``boschloo``
(independent groups), ``metrics``,
``thresholds`` (leakage-guarded thresholds), ``calibration``, ``subgroups``,
``agreement`` (Cohen, Fleiss), ``readers`` (reader studies), ``mrmc`` (Obuchowski–Rockette)
with ``fom`` (figures of merit and their covariance), ``report`` (the cohort report:
``build_report``) with ``cohort`` (its result types), ``figures`` (Plotly figures) and
``report_html`` (``render_html``); the last two import Plotly, so they are not imported here.
"""

from ankle_core.stats.agreement import (
    CohenKappa,
    FleissKappa,
    PairwiseCounts,
    cohen_kappa,
    disagreement_counts,
    fleiss_kappa,
)
from ankle_core.stats.boschloo import BoschlooResult, boschloo
from ankle_core.stats.calibration import (
    CalibrationResult,
    ReliabilityCurve,
    brier_score,
    calibration,
    calibration_intercept_slope,
    reliability_curve,
)
from ankle_core.stats.delong import (
    DeLongResult,
    ModelComparison,
    compare_models,
    delong_covariance,
    delong_test,
    delong_test_unpaired,
    holm_adjust,
)
from ankle_core.stats.mcnemar import McNemarResult, mcnemar, mcnemar_counts
from ankle_core.stats.metrics import Metric, ThresholdMetrics, metrics_at, wilson_interval
from ankle_core.stats.mrmc import MrmcResult, mrmc_or, mrmc_or_arrays
from ankle_core.stats.readers import ReaderStudyResult, reader_study
from ankle_core.stats.report import CohortReport, build_report
from ankle_core.stats.roc import (
    AucWithCI,
    RocBand,
    RocCurve,
    auc_ci,
    auc_score,
    roc_band,
    roc_curve,
)
from ankle_core.stats.subgroups import SubgroupAuc, subgroup_auc
from ankle_core.stats.thresholds import (
    OperatingPoints,
    OperatingPointsMetrics,
    Threshold,
    ThresholdLeakageError,
    ThresholdLeakageWarning,
    apply_operating_points,
    apply_threshold,
    choose_operating_points,
    choose_threshold,
    evaluate_operating_points,
)

__all__ = [
    "AucWithCI",
    "BoschlooResult",
    "CalibrationResult",
    "CohenKappa",
    "CohortReport",
    "DeLongResult",
    "FleissKappa",
    "McNemarResult",
    "Metric",
    "ModelComparison",
    "MrmcResult",
    "OperatingPoints",
    "OperatingPointsMetrics",
    "PairwiseCounts",
    "ReaderStudyResult",
    "ReliabilityCurve",
    "RocBand",
    "RocCurve",
    "SubgroupAuc",
    "Threshold",
    "ThresholdLeakageError",
    "ThresholdLeakageWarning",
    "ThresholdMetrics",
    "apply_operating_points",
    "apply_threshold",
    "auc_ci",
    "auc_score",
    "boschloo",
    "brier_score",
    "build_report",
    "calibration",
    "calibration_intercept_slope",
    "choose_operating_points",
    "choose_threshold",
    "cohen_kappa",
    "compare_models",
    "delong_covariance",
    "delong_test",
    "delong_test_unpaired",
    "disagreement_counts",
    "evaluate_operating_points",
    "fleiss_kappa",
    "holm_adjust",
    "mcnemar",
    "mcnemar_counts",
    "metrics_at",
    "mrmc_or",
    "mrmc_or_arrays",
    "reader_study",
    "reliability_curve",
    "roc_band",
    "roc_curve",
    "subgroup_auc",
    "wilson_interval",
]
