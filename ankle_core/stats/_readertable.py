"""Parse and check a long reader-study table into a (condition, reader, case) array.

Columns: ``case``, ``reader``, ``condition`` (``unaided`` or ``aided``), ``truth`` (0/1) and
``score`` (a rating, higher = more confident of a fracture) and/or ``call`` (0/1). The
design must be fully crossed: every reader reads every case in both conditions, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ankle_core.errors import InvalidInputError
from ankle_core.stats._validate import as_binary_truth

__all__ = ["CONDITIONS", "ReaderData", "parse_reader_table"]

#: Condition order used everywhere: differences are aided − unaided.
CONDITIONS: tuple[str, str] = ("unaided", "aided")


@dataclass(frozen=True)
class ReaderData:
    """A fully crossed reader study as arrays.

    Attributes:
        cases: The c case identifiers (as text, sorted).
        readers: The r reader identifiers (as text, sorted).
        conditions: ``("unaided", "aided")``.
        truth: Shape (c,), 0/1.
        values: Shape (2, r, c), the chosen column (scores or 0/1 calls), float64.
        kind: ``score`` or ``call``.
    """

    cases: tuple[str, ...]
    readers: tuple[str, ...]
    conditions: tuple[str, ...]
    truth: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    kind: str


def parse_reader_table(table: Any, value: Literal["score", "call"]) -> ReaderData:
    """Check a long reader table and pivot one value column to (condition, reader, case).

    Args:
        table: A pandas DataFrame with the columns listed in the module docstring.
        value: Which column to pivot, ``score`` or ``call``.

    Returns:
        The arrays.

    Raises:
        InvalidInputError: missing columns, an unknown or missing condition, duplicated
            readings, a case with conflicting truth, missing readings, NaN values, or fewer
            than 2 cases per class.
    """
    needed = {"case", "reader", "condition", "truth", value}
    if not hasattr(table, "columns"):
        raise InvalidInputError("the reader table must be a pandas DataFrame.")
    missing = sorted(needed - set(map(str, table.columns)))
    if missing:
        raise InvalidInputError(f"the reader table lacks the column(s) {missing}.")
    df = table[["case", "reader", "condition", "truth", value]].copy()
    df["case"] = df["case"].astype(str)
    df["reader"] = df["reader"].astype(str)
    df["condition"] = df["condition"].astype(str).str.strip().str.lower()
    unknown = sorted(set(df["condition"]) - set(CONDITIONS))
    if unknown:
        raise InvalidInputError(f"unknown condition(s) {unknown}; use 'unaided' and 'aided'.")
    for cond in CONDITIONS:
        if not (df["condition"] == cond).any():
            raise InvalidInputError(f"the reader table has no '{cond}' readings.")
    per_reader = df.groupby("reader")["condition"].nunique()
    lacking = sorted(per_reader[per_reader < 2].index.tolist())
    if lacking:
        raise InvalidInputError(f"reader(s) {lacking[:5]} lack one condition (unaided or aided).")
    dup = df.duplicated(["case", "reader", "condition"], keep=False)
    if dup.any():
        first = df.loc[dup].iloc[0]
        raise InvalidInputError(
            f"{int(dup.sum())} duplicated readings (same case, reader and condition), "
            f"e.g. reader {first['reader']} on case {first['case']} ({first['condition']})."
        )
    truth_per_case = df.groupby("case")["truth"].nunique()
    if (truth_per_case > 1).any():
        raise InvalidInputError("some cases have conflicting truth values across rows.")
    if df[value].isna().any():
        raise InvalidInputError(
            f"the reader table has {int(df[value].isna().sum())} missing {value}s."
        )
    cases = tuple(sorted(df["case"].unique()))
    readers = tuple(sorted(df["reader"].unique()))
    expected = len(cases) * len(readers) * 2
    if len(df) != expected:
        raise InvalidInputError(
            f"the design is not fully crossed: {expected - len(df)} readings missing "
            "(every reader must read every case in both conditions)."
        )
    truth = as_binary_truth(df.groupby("case")["truth"].first().reindex(list(cases)).to_numpy())
    n_pos = int(truth.sum())
    if min(n_pos, truth.size - n_pos) < 2:
        raise InvalidInputError(
            f"a reader study needs at least 2 cases of each class; got {n_pos} positive and "
            f"{truth.size - n_pos} negative."
        )
    try:
        num = df[value].astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the {value} column must be numeric.") from exc
    if not np.isfinite(num.to_numpy()).all():
        raise InvalidInputError(f"the {value} column has infinite values.")
    df[value] = num
    pivot = df.set_index(["condition", "reader", "case"])[value]
    values = np.empty((2, len(readers), len(cases)))
    for i, cond in enumerate(CONDITIONS):
        sub = (
            pivot.xs(cond, level="condition")
            .unstack("case")
            .reindex(index=list(readers), columns=list(cases))
        )
        values[i] = sub.to_numpy(dtype=np.float64)
    if value == "call" and not np.isin(values, (0.0, 1.0)).all():
        raise InvalidInputError("the call column must hold 0 (negative) or 1 (positive).")
    return ReaderData(cases, readers, CONDITIONS, truth, values, value)
