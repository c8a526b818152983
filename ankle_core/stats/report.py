"""The cohort report: every statistic of a predictions table, in one frozen object.

:func:`build_report` feeds both the CLI (``python -m ankle_core.stats report``) and the
dashboard's cohort page. Figures live in :mod:`ankle_core.stats.figures`, the HTML page in
:mod:`ankle_core.stats.report_html`.

Reader columns: a column named ``reader_<id>_unaided`` together with
``reader_<id>_aided`` is one reader's reading of every case without and with the AI.
With at least two such readers the report adds an MRMC analysis (Obuchowski–Rockette,
jackknife and DeLong covariance) and the reader study. Reader columns may also be listed in
``scores`` (e.g. ``reader_1``): they are then analysed like a model.

Thresholds: with a ``split`` column (values ``validation`` and ``test``), data-driven
thresholds are chosen on the validation rows and every statistic is computed on the test
rows. Without one, a data-driven threshold is chosen on the very cases it is evaluated
on; the report says so in ``warnings`` and in the HTML banner (results are optimistic).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ankle_core.errors import InvalidInputError
from ankle_core.stats._validate import as_binary_truth, as_scores, check_binary_task
from ankle_core.stats.agreement import cohen_kappa, disagreement_counts, fleiss_kappa
from ankle_core.stats.calibration import calibration
from ankle_core.stats.cohort import CohortReport, KappaPair, McNemarPair, ModelReport
from ankle_core.stats.delong import compare_models
from ankle_core.stats.mcnemar import mcnemar
from ankle_core.stats.metrics import metrics_at
from ankle_core.stats.mrmc import MrmcResult, mrmc_or
from ankle_core.stats.readers import reader_study
from ankle_core.stats.roc import auc_ci, roc_band, roc_curve
from ankle_core.stats.subgroups import SubgroupAuc, subgroup_auc
from ankle_core.stats.thresholds import Threshold, ThresholdLeakageWarning, choose_threshold

__all__ = [
    "CohortReport",
    "KappaPair",
    "McNemarPair",
    "ModelReport",
    "build_report",
    "find_reader_columns",
    "parse_threshold_spec",
]

logger = logging.getLogger(__name__)
_READER = re.compile(r"^reader_(?P<id>.+)_(?P<cond>unaided|aided)$")


def parse_threshold_spec(spec: str | float) -> tuple[str, float | None]:
    """Parse ``youden``, ``max_accuracy``, ``0.3``, ``sensitivity:0.9``, ``specificity:0.95``.

    Args:
        spec: The specification.

    Returns:
        ``(method, number)``; number is the fixed value or the target rate.
    """
    if isinstance(spec, (int, float)):
        return "fixed", float(spec)
    text = str(spec).strip().lower()
    if text in ("youden", "max_accuracy"):
        return text, None
    if ":" in text:
        method, _, value = text.partition(":")
        if method in ("sensitivity", "specificity", "fixed"):
            try:
                return method, float(value)
            except ValueError:
                pass
    try:
        return "fixed", float(text)
    except ValueError:
        raise InvalidInputError(
            f"unknown threshold {spec!r}: use youden, max_accuracy, a number, "
            "sensitivity:0.9 or specificity:0.9."
        ) from None


def find_reader_columns(columns: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Find reader column pairs named ``reader_<id>_unaided`` and ``reader_<id>_aided``.

    Args:
        columns: Column names.

    Returns:
        Reader id -> (unaided column, aided column), only for ids with both.
    """
    found: dict[str, dict[str, str]] = {}
    for col in columns:
        match = _READER.match(str(col))
        if match:
            found.setdefault(match["id"], {})[match["cond"]] = str(col)
    return {k: (v["unaided"], v["aided"]) for k, v in sorted(found.items()) if len(v) == 2}


def _reader_long_table(
    test: pd.DataFrame, truth: str, pairs: dict[str, tuple[str, str]]
) -> pd.DataFrame:
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


def _choose(method: str, value: float | None, y: Any, s: Any) -> Threshold:
    if method == "fixed":
        return choose_threshold(method="fixed", value=0.5 if value is None else value)
    return choose_threshold(y, s, method=method, target=value)  # type: ignore[arg-type]


def build_report(
    df: pd.DataFrame,
    truth: str,
    scores: Sequence[str],
    *,
    threshold: str | float = "youden",
    subgroup: str | None = None,
    split: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    reader_threshold: float | None = None,
) -> CohortReport:
    """Compute every statistic of the cohort report.

    Args:
        df: One row per case: the truth column, score columns, optional subgroup, split,
            ``case`` and ``reader_<id>_unaided/aided`` columns.
        truth: Name of the 0/1 truth column (1 = fracture).
        scores: Names of the score columns to analyse as models (higher = more likely
            positive).
        threshold: See :func:`parse_threshold_spec`; default Youden.
        subgroup: Column whose levels get their own AUC.
        split: Column with ``validation``/``test`` rows (thresholds chosen on validation).
        n_boot: Bootstrap replicates for every bootstrap interval and band.
        seed: Seed of the one ``np.random.Generator`` used throughout.
        level: Coverage of every interval.
        reader_threshold: Turns reader scores into calls for the reader study
            (``score >= reader_threshold``). Default: 0.5 when every reader score lies in
            [0, 1]; otherwise the reader study is left out with a note (e.g. pass 3 for a
            1–5 confidence scale). The MRMC AUC analysis needs no threshold.

    Returns:
        The frozen report.
    """
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError("the predictions must be a pandas DataFrame.")
    names = tuple(str(s) for s in scores)
    missing = [c for c in (truth, *names, subgroup, split) if c is not None and c not in df.columns]
    if missing:
        raise InvalidInputError(
            f"the table lacks the column(s) {missing}; it has {list(df.columns)[:20]}."
        )
    if not names:
        raise InvalidInputError("name at least one score column.")
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    method, value = parse_threshold_spec(threshold)
    if split is not None:
        kind = df[split].astype(str).str.strip().str.lower()
        val, test = df[kind == "validation"], df[kind == "test"]
        if len(val) == 0 or len(test) == 0:
            raise InvalidInputError(
                f"the split column {split!r} needs both 'validation' and 'test' rows."
            )
        source = "validation split" if method != "fixed" else "fixed"
    else:
        val, test = df, df
        source = "fixed" if method == "fixed" else "same data (optimistic)"
        if method != "fixed":
            notes.append(
                "Thresholds were chosen on the same cases they are evaluated on: metrics at the "
                "chosen thresholds are optimistic. Add a split column (validation/test)."
            )
    y, _ = check_binary_task(test[truth].to_numpy())
    per_model: dict[str, ModelReport] = {}
    chosen_calls: dict[str, Any] = {}
    fixed_calls: dict[str, Any] = {}
    for name in names:
        s = as_scores(test[name].to_numpy(), y.size, name)
        thr = _choose(method, value, as_binary_truth(val[truth].to_numpy()), val[name].to_numpy())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ThresholdLeakageWarning)  # recorded in `notes`
            chosen = metrics_at(
                y, s, thr, level=level, n_boot=n_boot, rng=rng, allow_same_data=split is None
            )
        calib = None
        if (s >= 0).all() and (s <= 1).all():
            calib = calibration(y, s, level=level)
        groups: tuple[SubgroupAuc, ...] = ()
        if subgroup is not None:
            groups = subgroup_auc(y, s, test[subgroup].to_numpy(), level=level)
        per_model[name] = ModelReport(
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
        chosen_calls[name] = (s >= thr.value).astype(int)
        fixed_calls[name] = (s >= 0.5).astype(int)
    comparison = (
        compare_models(y, {n: test[n].to_numpy() for n in names}, level=level)
        if len(names) > 1
        else None
    )
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    mc = tuple(
        McNemarPair(a, b, label, mcnemar(calls[a], calls[b], y))
        for label, calls in (("fixed 0.5", fixed_calls), ("chosen", chosen_calls))
        for a, b in pairs
    )
    kappas = []
    for a, b in pairs:
        try:
            kappas.append(
                KappaPair(
                    a,
                    b,
                    cohen_kappa(
                        chosen_calls[a], chosen_calls[b], categories=("0", "1"), level=level
                    ),
                )
            )
        except InvalidInputError as exc:
            notes.append(f"Cohen's kappa {a} vs {b}: {exc}")
    fleiss = None
    if len(names) >= 2:
        try:
            fleiss = fleiss_kappa(np.column_stack([chosen_calls[n] for n in names]))
        except InvalidInputError as exc:
            notes.append(f"Fleiss' kappa: {exc}")
    disagreements = disagreement_counts(chosen_calls) if len(names) >= 2 else None
    reader_pairs = find_reader_columns(list(map(str, df.columns)))
    mrmc: dict[str, MrmcResult] = {}
    study = None
    if len(reader_pairs) >= 2:
        long = _reader_long_table(test, truth, reader_pairs)
        mrmc = {cov: mrmc_or(long, cov, level=level) for cov in ("jackknife", "delong")}
        values = long["score"].to_numpy(dtype=np.float64)
        cut = reader_threshold
        if cut is None and (values >= 0).all() and (values <= 1).all():
            cut = 0.5
        if cut is None:
            notes.append(
                "Reader scores are not probabilities: the reader study (accuracy, sensitivity, "
                "specificity) needs a reader threshold (--reader-threshold, e.g. 3 on a 1-5 scale)."
            )
        else:
            study = reader_study(long, threshold=cut, level=level)
    elif reader_pairs:
        notes.append("Only one reader has unaided and aided columns: MRMC needs at least two.")
    logger.info(
        "cohort report: %d cases, %d models, %d readers", y.size, len(names), len(reader_pairs)
    )
    return CohortReport(
        truth=truth,
        models=names,
        n=int(y.size),
        n_pos=int(y.sum()),
        n_neg=int(y.size - y.sum()),
        n_validation=0 if split is None else len(val),
        level=level,
        n_boot=int(n_boot),
        seed=int(seed),
        threshold_method=method if value is None else f"{method}:{value:g}",
        threshold_source=source,
        subgroup=subgroup,
        per_model=MappingProxyType(per_model),
        comparison=comparison,
        mcnemar=mc,
        kappa=tuple(kappas),
        fleiss=fleiss,
        disagreements=disagreements,
        readers=tuple(reader_pairs),
        mrmc=MappingProxyType(mrmc),
        reader_study=study,
        warnings=tuple(notes),
    )
