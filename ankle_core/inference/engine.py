"""What the batch CLIs share: their engine flags, model version keys, the Ray hand-off.

``--engine local`` (the default) runs :func:`ankle_core.inference.batch.run_cases` in this
process or in spawned workers; ``--engine ray`` hands the same per-case functions
(a :class:`~ankle_core.scale.common.BatchKind`) to :func:`run_on_ray`, which needs the
optional extra (``pip install -r requirements-scale.txt``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ankle_core.errors import InvalidInputError
from ankle_core.models.card import ModelCard
from ankle_core.scale.common import BatchKind, BatchSummary, EngineOptions
from ankle_core.scale.sources import CaseList, read_manifest

__all__ = [
    "ENGINES",
    "add_engine_arguments",
    "add_source_arguments",
    "card_version",
    "case_list",
    "engine_options",
    "run_engine",
    "run_on_ray",
]

ENGINES: tuple[str, ...] = ("local", "ray")


def card_version(card: ModelCard) -> str:
    """A model's version for resume keys: name, version and the start of the weights' hash.

    >>> card_version(ModelCard(name="m", version="1.0", architecture="ct_mobilenet3d",
    ...     task="ct-fracture", spatial_dims=3, labels=("no fracture", "fracture"),
    ...     input_size=(8, 8, 8), weights_sha256="ab" * 32))
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


def run_on_ray(
    kind: BatchKind[Any, Any],
    cases: Sequence[Path],
    config: Any,
    out_csv: str | Path,
    options: EngineOptions,
    names: Sequence[str] | None = None,
) -> BatchSummary:
    """:func:`ankle_core.scale.ray_batch.run_on_ray`, or a clear error without Ray."""
    if importlib.util.find_spec("ray") is None:
        raise InvalidInputError("--engine ray needs Ray: pip install -r requirements-scale.txt")
    from ankle_core.scale.ray_batch import run_on_ray as run

    return run(kind, cases, config, out_csv, options, names)


def run_engine(
    kind: BatchKind[Any, Any],
    run_local: Callable[..., BatchSummary],
    cases: Sequence[Path],
    config: Any,
    out_csv: str | Path,
    options: EngineOptions,
    names: Sequence[str] | None = None,
) -> BatchSummary:
    """Run a batch CLI's cases on the engine ``options`` names.

    Args:
        kind: the per-case functions, for ``--engine ray``.
        run_local: the CLI's ``run_batch(cases, config, out_csv, *, workers, threads,
            batch_size, progress, resume, names)``, for ``--engine local``.
        cases: the case paths.
        config: the pipeline configuration (picklable).
        out_csv: the predictions CSV.
        options: the engine flags (:func:`engine_options`).
        names: the ``file`` column's values (a manifest's ``case_id``), else the paths'.
    """
    if options.engine == "ray":
        return run_on_ray(kind, cases, config, out_csv, options, names)
    return run_local(
        cases,
        config,
        out_csv,
        workers=options.workers,
        threads=options.threads,
        batch_size=options.batch_size,
        progress=options.progress,
        resume=options.resume,
        names=names,
    )


def add_source_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The cases of a batch CLI: a folder (positional) or ``--manifest`` (one of the two)."""
    parser.add_argument("folder", type=Path, nargs="?", default=None, help=what)
    parser.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="CSV with a 'path' column (and optionally 'case_id', written as the 'file' "
        "column) instead of a folder",
    )


def case_list(args: Any, find: Callable[[Path], Sequence[Path]]) -> CaseList:
    """The cases the arguments name: ``--manifest``'s, or ``find(folder)``.

    Raises:
        InvalidInputError: both or neither of a folder and ``--manifest``.
    """
    if (args.folder is None) == (args.manifest is None):
        raise InvalidInputError("Give either a folder of cases or --manifest FILE (not both).")
    if args.manifest is not None:
        return read_manifest(args.manifest)
    return CaseList(tuple(find(args.folder)))
