"""What the batch CLIs share: engine options, their command-line flags, model version keys.

``--engine local`` (the default) runs :func:`ankle_core.inference.batch.run_cases` in this
process or in spawned workers; ``--engine ray`` hands the same per-case functions to
:mod:`ankle_core.scale` (an optional extra: ``pip install -r requirements-scale.txt``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from ankle_core.errors import InvalidInputError
from ankle_core.models.card import ModelCard

__all__ = [
    "ENGINES",
    "BatchKind",
    "EngineOptions",
    "add_engine_arguments",
    "array_from_bytes",
    "array_to_bytes",
    "card_version",
    "engine_options",
    "scale_module",
]

ENGINES: tuple[str, ...] = ("local", "ray")

ConfigT = TypeVar("ConfigT")
LoadedT = TypeVar("LoadedT")


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
    """

    name: str
    columns: tuple[str, ...]
    load: Callable[[str, ConfigT], LoadedT]
    encode: Callable[[LoadedT], dict[str, Any]]
    decode: Callable[[dict[str, Any]], LoadedT]
    predict: Callable[[Sequence[LoadedT], ConfigT], list[dict[str, Any]]]
    model_version: Callable[[ConfigT], str]
    unit: str = "case"


def array_to_bytes(array: npt.NDArray[Any]) -> bytes:
    """An array as ``.npy`` bytes (no pickle), for moving decoded images between processes."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def array_from_bytes(data: bytes) -> npt.NDArray[Any]:
    """The inverse of :func:`array_to_bytes` (pickled object arrays are refused)."""
    return np.asarray(np.load(io.BytesIO(data), allow_pickle=False))


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


def card_version(card: ModelCard) -> str:
    """A model's version for resume keys: name, version and the start of the weights' hash.

    >>> card_version(ModelCard(name="m", version="1.0", architecture="a", task="t",
    ...     spatial_dims=2, labels=("a", "b"), input_size=(8, 8), weights_sha256="ab" * 32))
    'm 1.0 (abababababab)'
    """
    return f"{card.name} {card.version} ({card.weights_sha256[:12]})"


def add_engine_arguments(parser: argparse.ArgumentParser, *, batch_size: int) -> None:
    """Add the engine flags shared by every batch inference CLI."""
    g = parser.add_argument_group("engine")
    g.add_argument("--engine", choices=ENGINES, default="local", help="local (default) or ray")
    g.add_argument(
        "--address",
        default=None,
        help="Ray cluster: 'auto' or ray://host:10001 (default: a local cluster here)",
    )
    g.add_argument("--workers", type=int, default=1, help="worker processes or Ray actors")
    g.add_argument(
        "--threads", type=int, default=None, help="torch threads per worker (cores // workers)"
    )
    g.add_argument("--batch-size", type=int, default=batch_size, help="cases per forward pass")
    g.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor")
    g.add_argument("--resume", action="store_true", help="skip cases already in --out")
    g.add_argument("--no-progress", action="store_true")


def engine_options(args: Any) -> EngineOptions:
    """The :class:`EngineOptions` of parsed arguments (see :func:`add_engine_arguments`)."""
    if args.workers < 1 or args.batch_size < 1 or (args.threads is not None and args.threads < 1):
        raise InvalidInputError("--workers, --threads and --batch-size must be at least 1.")
    if args.gpus_per_worker < 0:
        raise InvalidInputError("--gpus-per-worker cannot be negative.")
    if args.engine != "ray" and (args.address or args.gpus_per_worker):
        raise InvalidInputError("--address and --gpus-per-worker need --engine ray.")
    return EngineOptions(
        engine=args.engine,
        address=args.address,
        workers=args.workers,
        threads=args.threads,
        batch_size=args.batch_size,
        gpus_per_worker=args.gpus_per_worker,
        progress=not args.no_progress,
        resume=args.resume,
    )


def scale_module() -> ModuleType:
    """:mod:`ankle_core.scale`, or a clear error when Ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise InvalidInputError("--engine ray needs Ray: pip install -r requirements-scale.txt")
    return importlib.import_module("ankle_core.scale")
