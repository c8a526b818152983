"""Batch fracture localisation: ``python -m ankle_core.inference localise DIR --out preds.csv``.

Runs :class:`~ankle_core.inference.localiser.FractureLocaliser` (default: the lower-limb
FracAtlas model) on every image file in ``DIR`` and writes one CSV row per file: the
image-level score and call, and the suggested boxes (JSON, pixels and mm). A file that cannot
be read gets ``status=error`` with the reason; the other files go on.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ankle_core.errors import AnkleError
from ankle_core.inference.batch import run_cases
from ankle_core.inference.localiser import LEG_LOCALISER_NAME, FractureLocaliser
from ankle_core.inference.radiograph_cli import find_images
from ankle_core.scale.common import input_sha256

__all__ = [
    "LOCALISE_COLUMNS",
    "LocaliseConfig",
    "localise_file",
    "localise_files",
    "register",
]

logger = logging.getLogger(__name__)

LOCALISE_COLUMNS: tuple[str, ...] = (
    "file",
    "status",
    "error",
    "image_score",
    "fracture_call",
    "image_threshold",
    "n_boxes",
    "boxes",
    "model",
    "runtime",
    "total_s",
    "input_sha256",
    "model_version",
)


@dataclass(frozen=True)
class LocaliseConfig:
    """What a worker needs to build the localiser (hashable, picklable).

    Attributes:
        model: installed name or folder of the localiser.
        models_dir: folder of installed models (None: the project's ``models/``).
        device: ``"cpu"`` or ``"cuda"``.
        runtime: ``"torch"`` or ``"onnx"``.
        onnx_cache_dir: folder for exported ONNX files (None: in memory).
    """

    model: str = LEG_LOCALISER_NAME
    models_dir: str | None = None
    device: str = "cpu"
    runtime: str = "torch"
    onnx_cache_dir: str | None = None


@functools.lru_cache(maxsize=2)
def _localiser(config: LocaliseConfig) -> FractureLocaliser:
    return FractureLocaliser.from_name(
        config.model,
        models_dir=config.models_dir,
        device=config.device,
        runtime=config.runtime,
        onnx_cache_dir=config.onnx_cache_dir,
    )


def localise_file(path: str, config: LocaliseConfig) -> dict[str, Any]:
    """Localise fractures on one file and return its CSV row (never raises for bad input).

    Args:
        path: the image file.
        config: the localiser configuration.

    Returns:
        A dict with the keys of :data:`LOCALISE_COLUMNS` (``file`` is the file name only).
    """
    from ankle_core.io import read_radiograph

    row: dict[str, Any] = {c: "" for c in LOCALISE_COLUMNS}
    row["file"] = Path(path).name
    row["runtime"] = config.runtime
    row["input_sha256"] = input_sha256(Path(path))
    row["model_version"] = config.model
    t0 = time.perf_counter()
    localiser = _localiser(config)  # model errors are not per-file: let them raise
    card = localiser.model.card
    row["model"] = f"{card.name} {card.version}"
    try:
        result = localiser.run(read_radiograph(path))
    except AnkleError as exc:
        row.update(status="error", error=str(exc))
    except Exception as exc:  # a reader bug must not stop a batch
        logger.warning("unexpected %s on one file", type(exc).__name__)
        row.update(status="error", error=f"unexpected {type(exc).__name__} while processing")
    else:
        boxes = [
            {
                "box": [round(v, 1) for v in b.box.as_xyxy()],
                "box_mm": None if b.box_mm is None else [round(v, 2) for v in b.box_mm],
                "score": round(b.score, 4),
            }
            for b in result.boxes
        ]
        row.update(
            status="ok",
            image_score=round(result.image_score, 4),
            fracture_call=int(result.fracture_call),
            image_threshold=round(result.image_threshold, 4),
            n_boxes=len(boxes),
            boxes=json.dumps(boxes),
        )
    row["total_s"] = round(time.perf_counter() - t0, 4)
    return row


def localise_files(paths: Sequence[str], config: LocaliseConfig) -> list[dict[str, Any]]:
    """One CSV row per file, in order (the batch engine's per-batch function)."""
    return [localise_file(p, config) for p in paths]


def _main(args: Any) -> int:
    files = find_images(args.folder, recursive=args.recursive)
    if not files:
        print(f"error: no image files in {args.folder}")
        return 2
    config = LocaliseConfig(
        model=args.model,
        models_dir=None if args.models_dir is None else str(args.models_dir),
        device=args.device,
        runtime=args.runtime,
        onnx_cache_dir=None if args.onnx_cache is None else str(args.onnx_cache),
    )
    summary = run_cases(
        localise_files,
        files,
        config,
        args.out,
        LOCALISE_COLUMNS,
        model_version=config.model,
        desc="radiographs",
        unit="file",
        workers=args.workers,
        progress=not args.no_progress,
    )
    print(
        f"{summary.cases} files, {summary.failures} unreadable; predictions written to {args.out}"
    )
    return 0


def register(subparsers: Any) -> None:
    """Add the ``localise`` subcommand."""
    p = subparsers.add_parser("localise", help="fracture boxes and image score over a folder")
    p.add_argument("folder", type=Path, help="folder of DICOM/PNG/JPEG radiographs")
    p.add_argument("--out", type=Path, default=Path("preds.csv"))
    p.add_argument("--model", default=LEG_LOCALISER_NAME)
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch")
    p.add_argument("--onnx-cache", type=Path, default=None, help="folder for ONNX exports")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--recursive", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_main)
