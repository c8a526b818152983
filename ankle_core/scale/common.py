"""What every batch engine shares: options, a case kind's functions, resume keys, CSV I/O.

The local engine (:func:`ankle_core.inference.batch.run_cases`) and the Ray engine
(:func:`ankle_core.scale.ray_batch.run_on_ray`) both use these, so they write the same CSV
and resume from each other's output. Nothing here imports Ray or a model.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from ankle_core.errors import InvalidInputError

__all__ = [
    "KEY_COLUMNS",
    "BatchKind",
    "BatchSummary",
    "EngineOptions",
    "array_from_bytes",
    "array_to_bytes",
    "default_threads",
    "input_sha256",
    "read_rows",
    "set_threads",
    "write_rows",
]

ConfigT = TypeVar("ConfigT")
LoadedT = TypeVar("LoadedT")
Row = dict[str, Any]

#: The columns that key a row for ``--resume``: the input's content and the model.
KEY_COLUMNS: tuple[str, str] = ("input_sha256", "model_version")


@dataclass(frozen=True)
class EngineOptions:
    """How a batch runs (the engine-specific part of a batch CLI's arguments).

    Attributes:
        engine: ``"local"`` or ``"ray"``.
        address: Ray cluster address (``"auto"``, ``"ray://host:10001"``); None starts a
            local cluster on this machine.
        workers: worker processes (local) or model actors (Ray).
        threads: torch threads per worker or actor (None: ``cores // workers``).
        batch_size: cases per forward pass.
        gpus_per_worker: GPUs per Ray actor (0: CPU actors).
        progress: show progress bars.
        resume: skip the cases already written to the output.
    """

    engine: str = "local"
    address: str | None = None
    workers: int = 1
    threads: int | None = None
    batch_size: int = 4
    gpus_per_worker: float = 0.0
    progress: bool = True
    resume: bool = False


@dataclass(frozen=True)
class BatchKind(Generic[ConfigT, LoadedT]):
    """A kind of case (radiograph, CT) as an engine sees it: pure, picklable functions.

    Attributes:
        name: ``"radiograph"`` or ``"ct"``.
        columns: the CSV's columns, in order.
        load: ``(path, config) -> loaded``: hash and decode one case (never raises).
        encode: ``loaded -> record``: plain values and bytes for Ray Data (Arrow).
        decode: ``record -> loaded``, the inverse of ``encode``.
        predict: ``(loaded cases, config) -> rows``, one forward pass per stage.
        model_version: ``config -> str``, read from the cards (the resume key).
        unit: progress-bar unit.
        read_in_actor: the Ray engine reads each case inside the model actor instead of in
            a separate CPU task. For CT: reading a volume is a large share of its work and
            the decoded volume is large, so separate reading tasks took the core a second
            actor needed and copied every volume through the object store (measured in
            ``docs/scale.md``: 2 actors 1.05x 1 actor with separate reading).
    """

    name: str
    columns: tuple[str, ...]
    load: Callable[[str, ConfigT], LoadedT]
    encode: Callable[[LoadedT], dict[str, Any]]
    decode: Callable[[dict[str, Any]], LoadedT]
    predict: Callable[[Sequence[LoadedT], ConfigT], list[dict[str, Any]]]
    model_version: Callable[[ConfigT], str]
    unit: str = "case"
    read_in_actor: bool = False


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run did.

    Attributes:
        cases: rows in the final CSV for this run's cases.
        ran: cases predicted by this run.
        skipped: cases already in the CSV (resume), not run again.
        failures: rows with ``status="error"`` among ``cases``.
        wall_s: wall-clock seconds of this run, start-up included.
        engine: ``"local"`` or ``"ray"``.
    """

    cases: int
    ran: int
    skipped: int
    failures: int
    wall_s: float
    engine: str = "local"

    @property
    def cases_per_s(self) -> float:
        """Cases predicted per second of wall time (0 when nothing ran)."""
        return self.ran / self.wall_s if self.wall_s > 0 else 0.0

    def line(self) -> str:
        """One plain sentence for the console."""
        return (
            f"{self.cases} cases ({self.ran} run, {self.skipped} already done), "
            f"{self.failures} failures; {self.wall_s:.1f} s, {self.cases_per_s:.2f} cases/s "
            f"({self.engine} engine)"
        )


def input_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """sha256 of a case: a file's bytes, or a folder's files (relative names and bytes).

    Args:
        path: a file, or a folder (e.g. a DICOM series), read recursively in name order.
        chunk_size: bytes read at a time.

    Returns:
        64 hex digits; an unreadable path gives ``"unreadable:<name>"`` (never raises).
    """
    p = Path(path)
    digest = hashlib.sha256()
    try:
        if not p.exists():
            raise FileNotFoundError(p)
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        for f in files:
            if f != p:
                digest.update(f.relative_to(p).as_posix().encode() + b"\0")
            with f.open("rb") as fh:
                while block := fh.read(chunk_size):
                    digest.update(block)
    except OSError:
        return f"unreadable:{p.name}"
    return digest.hexdigest()


def default_threads(workers: int) -> int:
    """Torch threads per worker so that ``threads x workers`` does not exceed the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, int(workers)))


def set_threads(threads: int) -> None:
    """Set this process's torch intra-op (and OpenMP) threads.

    Call it first thing in a fresh worker (its initialiser), before any parallel work.
    """
    import torch

    os.environ["OMP_NUM_THREADS"] = str(int(threads))
    torch.set_num_threads(int(threads))
    # already set, or parallel work already ran in this process: keep what is there
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def read_rows(csv_path: str | Path, columns: Sequence[str]) -> list[Row]:
    """The rows of an existing predictions CSV (empty when there is no file).

    Raises:
        InvalidInputError: the file's columns are not ``columns`` (another kind of CSV, or
            written by another version): resuming into it would mix formats.
    """
    p = Path(csv_path)
    if not p.is_file() or p.stat().st_size == 0:
        return []
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if list(reader.fieldnames or []) != list(columns):
            raise InvalidInputError(
                f"{p.name} has other columns than this CLI writes; it cannot be resumed. "
                "Choose another --out."
            )
        return list(reader)


def write_rows(csv_path: str | Path, rows: Sequence[Row], columns: Sequence[str]) -> None:
    """Write ``rows`` as the whole CSV, atomically (a temporary file, then a rename)."""
    out = Path(csv_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out)


def array_to_bytes(array: npt.NDArray[Any]) -> bytes:
    """An array as ``.npy`` bytes (no pickle), for moving decoded images between processes."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def array_from_bytes(data: bytes) -> npt.NDArray[Any]:
    """The inverse of :func:`array_to_bytes` (pickled object arrays are refused)."""
    return np.asarray(np.load(io.BytesIO(data), allow_pickle=False))
