"""Running a per-case function over many cases, with a progress bar, into a CSV.

Shared by the radiograph and CT batch CLIs. The per-case function is a pure top-level
function (picklable), so cases can run in worker processes; it never raises for a bad case
but returns a row with ``status="error"``, so one unreadable file never stops the batch.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

__all__ = ["run_cases"]

ConfigT = TypeVar("ConfigT")
Row = dict[str, Any]


def run_cases(
    predict: Callable[[str, ConfigT], Row],
    cases: Sequence[Path],
    config: ConfigT,
    out_csv: str | Path,
    columns: Sequence[str],
    *,
    desc: str,
    unit: str,
    workers: int = 1,
    progress: bool = True,
) -> list[Row]:
    """Apply ``predict(str(case), config)`` to every case and write the rows as CSV.

    Args:
        predict: the picklable per-case function; returns one row (with a ``status`` key).
        cases: files or folders, in output order.
        config: the picklable configuration passed to every call.
        out_csv: the CSV to write (parent folders are created).
        columns: the CSV's columns, in order.
        desc: progress-bar label.
        unit: progress-bar unit.
        workers: worker processes (1: run here).
        progress: show the progress bar (errors so far in its postfix).

    Returns:
        The rows, in case order.
    """
    rows: list[Row] = []
    bar = tqdm(total=len(cases), desc=desc, unit=unit, disable=not progress)
    results: Iterator[Row]
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    if pool is not None:
        results = pool.map(predict, [str(c) for c in cases], [config] * len(cases))
    else:
        results = (predict(str(c), config) for c in cases)
    try:
        for row in results:
            rows.append(row)
            bar.update(1)
            bar.set_postfix(errors=sum(r.get("status") == "error" for r in rows))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return rows
