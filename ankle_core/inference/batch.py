"""The local batch engine: a per-batch function over many cases, streamed into a CSV.

Shared by the radiograph and CT batch CLIs (``--engine local``, the default; the Ray engine
in :mod:`ankle_core.scale` writes the same CSV). The per-batch function is a pure top-level
function of ``(paths, config)`` (picklable), so batches can run in worker processes; it
never raises for a bad case but returns a row with ``status="error"``, so one unreadable
file never stops the batch.

What makes it safe at archive scale:

- **Workers are spawned**, never forked: a forked child of a process that has already run
  torch inference can hang for good in OpenMP (``F.interpolate`` at 0% CPU), and CUDA cannot
  be forked at all. Each worker sets its torch/OpenMP thread count in its initialiser, so
  ``threads x workers`` stays within the cores.
- **Rows are written as they finish** (append + flush), so an interrupted run keeps what it
  did; the CSV is rewritten in case order at the end.
- **Resumable**: with ``resume=True`` the cases whose ``(input_sha256, model_version)`` is
  already in the CSV are skipped (the keys, summary and CSV helpers shared with the Ray
  engine are in :mod:`ankle_core.scale.common`).
- **Constant-time progress**: the error count in the progress bar is a running counter.
"""

from __future__ import annotations

import csv
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, as_completed, wait
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from ankle_core.errors import InvalidInputError
from ankle_core.scale.common import (
    BatchSummary,
    default_threads,
    input_sha256,
    read_rows,
    set_threads,
    write_rows,
)

__all__ = ["run_cases"]

logger = logging.getLogger(__name__)

ConfigT = TypeVar("ConfigT")
Row = dict[str, Any]
PredictMany = Callable[[Sequence[str], ConfigT], list[Row]]


def _init_worker(threads: int) -> None:
    set_threads(threads)


def _batches(indices: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), size):
        yield list(indices[start : start + size])


def run_cases(
    predict: PredictMany[ConfigT],
    cases: Sequence[Path],
    config: ConfigT,
    out_csv: str | Path,
    columns: Sequence[str],
    *,
    model_version: str,
    desc: str,
    unit: str,
    workers: int = 1,
    threads: int | None = None,
    batch_size: int = 1,
    progress: bool = True,
    resume: bool = False,
    names: Sequence[str] | None = None,
) -> BatchSummary:
    """Apply ``predict(paths, config)`` to every batch of cases and stream rows to a CSV.

    Args:
        predict: the picklable per-batch function; returns one row per path, in order, each
            with the keys of ``columns`` (``status``, ``input_sha256`` and
            ``model_version`` among them).
        cases: files or folders, in output order.
        config: the picklable configuration passed to every call.
        out_csv: the CSV to write (parent folders are created).
        columns: the CSV's columns, in order.
        model_version: the models' version string the rows will carry (resume key).
        desc: progress-bar label.
        unit: progress-bar unit.
        workers: worker processes (1: run here).
        threads: torch threads per worker (None: ``cores // workers`` in workers, unchanged
            when running here).
        batch_size: cases per call of ``predict`` (one forward pass per stage).
        progress: show the progress bar (errors so far in its postfix).
        resume: keep the rows already in ``out_csv`` and skip their cases.
        names: the ``file`` column of each case (a manifest's ``case_id``; None: what
            ``predict`` writes, the file name).

    Returns:
        A :class:`BatchSummary`. The CSV holds one row per case, in case order (rows of
        other inputs kept from a resumed CSV follow them).
    """
    t0 = time.perf_counter()
    if workers < 1 or batch_size < 1:
        raise InvalidInputError("--workers and --batch-size must be at least 1.")
    if names is not None and len(names) != len(cases):
        raise ValueError("names must give one name per case.")
    out = Path(out_csv)
    previous = read_rows(out, columns) if resume else []
    done: dict[tuple[str, str], Row] = {
        (r["input_sha256"], r["model_version"]): r for r in previous
    }
    results: dict[int, Row] = {}
    todo: list[int] = []
    for i, case in enumerate(cases):
        row = done.get((input_sha256(case), model_version)) if done else None
        if row is None:
            todo.append(i)
        else:
            results[i] = row
    used = {id(r) for r in results.values()}
    others = [r for r in previous if id(r) not in used]
    skipped = len(results)
    write_rows(out, [*(results[i] for i in sorted(results)), *others], columns)

    failures = 0
    bar = tqdm(total=len(cases), initial=skipped, desc=desc, unit=unit, disable=not progress)
    n_threads = default_threads(workers) if threads is None else int(threads)
    with out.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))

        def record(indices: list[int], rows: list[Row]) -> None:
            nonlocal failures
            for i, row in zip(indices, rows, strict=True):
                if names is not None:
                    row["file"] = names[i]
                results[i] = row
                failures += row.get("status") == "error"
            writer.writerows(rows)
            fh.flush()
            bar.update(len(rows))
            bar.set_postfix(errors=failures, refresh=False)

        try:
            if workers == 1:
                _run_here(predict, cases, config, todo, batch_size, threads, record)
            else:
                _run_pool(predict, cases, config, todo, batch_size, workers, n_threads, record)
        finally:
            bar.close()
    final = [*(results[i] for i in sorted(results)), *others]
    write_rows(out, final, columns)
    ours = [results[i] for i in sorted(results)]
    return BatchSummary(
        cases=len(ours),
        ran=len(todo),
        skipped=skipped,
        failures=sum(r.get("status") == "error" for r in ours),
        wall_s=time.perf_counter() - t0,
    )


def _run_here(
    predict: PredictMany[ConfigT],
    cases: Sequence[Path],
    config: ConfigT,
    todo: list[int],
    batch_size: int,
    threads: int | None,
    record: Callable[[list[int], list[Row]], None],
) -> None:
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        for batch in _batches(todo, batch_size):
            record(batch, predict([str(cases[i]) for i in batch], config))
    finally:
        torch.set_num_threads(before)


def _run_pool(
    predict: PredictMany[ConfigT],
    cases: Sequence[Path],
    config: ConfigT,
    todo: list[int],
    batch_size: int,
    workers: int,
    threads: int,
    record: Callable[[list[int], list[Row]], None],
) -> None:
    context = multiprocessing.get_context("spawn")
    pending: dict[Future[list[Row]], list[int]] = {}
    batches = _batches(todo, batch_size)
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(threads,)
    ) as pool:
        # a bounded window of batches in flight: memory does not grow with the archive
        for batch in batches:
            pending[pool.submit(predict, [str(cases[i]) for i in batch], config)] = batch
            if len(pending) >= 2 * workers:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    record(pending.pop(future), future.result())
        for future in as_completed(list(pending)):
            record(pending.pop(future), future.result())
