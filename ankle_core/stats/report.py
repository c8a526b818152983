"""The cohort report: every statistic of a predictions table, in one frozen object.

:func:`build_report` feeds both the CLI (``python -m ankle_core.stats report``) and the
dashboard's cohort page. What the report holds, and in what order, is the one list
:data:`ankle_core.stats.sections.SECTIONS` (compute, figures, titles); figures live in
:mod:`ankle_core.stats.figures`, the HTML page in :mod:`ankle_core.stats.report_html`.

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

import dataclasses
import logging
import re
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ankle_core.errors import InvalidInputError
from ankle_core.stats._validate import as_scores, check_binary_task
from ankle_core.stats.cohort import CohortReport, KappaPair, McNemarPair, ModelReport
from ankle_core.stats.sections import SECTIONS, CohortData

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
    """Compute every statistic of the cohort report: one pass over its section list.

    The inputs are validated once into a :class:`~ankle_core.stats.sections.CohortData`;
    each section of :data:`~ankle_core.stats.sections.SECTIONS` then computes its result in
    order (the one ``np.random.Generator`` is consumed in that order).

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
    method, value = parse_threshold_spec(threshold)
    notes: list[str] = []
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
    reader_pairs = find_reader_columns(list(map(str, df.columns)))
    data = CohortData(
        test=test,
        val=val,
        truth=truth,
        names=names,
        y=y,
        scores={n: as_scores(test[n].to_numpy(), y.size, n) for n in names},
        method=method,
        value=value,
        split_given=split is not None,
        subgroup=subgroup,
        reader_pairs=reader_pairs,
        reader_threshold=reader_threshold,
        level=level,
        n_boot=int(n_boot),
        rng=np.random.default_rng(seed),
        notes=notes,
    )
    done: dict[str, Any] = {}
    for section in SECTIONS:
        done[section.field] = section.compute(data, MappingProxyType(done))
    logger.info(
        "cohort report: %d cases, %d models, %d readers", y.size, len(names), len(reader_pairs)
    )
    fields = {f.name for f in dataclasses.fields(CohortReport)}
    known: dict[str, Any] = {
        k: MappingProxyType(v) if isinstance(v, dict) else v for k, v in done.items() if k in fields
    }
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
        readers=tuple(reader_pairs),
        warnings=tuple(notes),
        extra=MappingProxyType({k: v for k, v in done.items() if k not in fields}),
        **known,
    )
