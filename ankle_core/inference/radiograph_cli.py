"""Batch inference over a folder of radiographs: ``python -m ankle_core.inference radiograph``.

``python -m ankle_core.inference radiograph DIR --out predictions.csv`` runs the two-stage
pipeline on every image file in ``DIR`` (DICOM, PNG, JPEG) with a progress bar and writes one
CSV row per file. A file that cannot be read gets a row with ``status=error`` and the reason;
the other files go on.

The per-case function :func:`predict_file` is a pure, picklable top-level function of
``(path, PipelineConfig)``: a process pool (``--workers``) or a distributed engine can map it
over files; each worker process loads the models once (a per-process cache keyed on the
frozen config).
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
from ankle_core.inference.radiograph import RadiographPipeline, RadiographResult

__all__ = ["CSV_COLUMNS", "PipelineConfig", "find_images", "predict_file", "register", "run_batch"]

logger = logging.getLogger(__name__)

CSV_COLUMNS: tuple[str, ...] = (
    "file",
    "status",
    "error",
    "case_call",
    "case_p_lmaf",
    "n_fragments",
    "fragments",
    "detector",
    "classifier",
    "runtime",
    "total_s",
)
_SKIP_SUFFIXES = {".csv", ".json", ".txt", ".md", ".onnx", ".safetensors", ".py"}


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a worker needs to build the pipeline (hashable, picklable).

    Attributes:
        detector: installed name or folder of the detector.
        classifier: installed name or folder of the classifier.
        models_dir: folder of installed models (None: the project's ``models/``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        runtime: ``"torch"`` or ``"onnx"``.
        onnx_cache_dir: folder for exported ONNX files (None: in memory).
    """

    detector: str = "lmaf-fragment-detector"
    classifier: str = "lmaf-classifier-mobilenetv2"
    models_dir: str | None = None
    device: str = "auto"
    runtime: str = "torch"
    onnx_cache_dir: str | None = None


@functools.lru_cache(maxsize=2)
def _pipeline(config: PipelineConfig) -> RadiographPipeline:
    return RadiographPipeline.from_names(
        config.detector,
        config.classifier,
        models_dir=config.models_dir,
        device=config.device,
        runtime=config.runtime,
        onnx_cache_dir=config.onnx_cache_dir,
    )


def _fragments_json(result: RadiographResult) -> str:
    return json.dumps(
        [
            {
                "box": [round(v, 1) for v in f.box.as_xyxy()],
                "box_mm": None if f.box_mm is None else [round(v, 2) for v in f.box_mm],
                "detection_score": round(f.detection_score, 4),
                "p_lmaf": round(f.p_lmaf, 4),
                "call": f.call,
            }
            for f in result.fragments
        ],
        ensure_ascii=False,
    )


def predict_file(path: str, config: PipelineConfig) -> dict[str, Any]:
    """Run the pipeline on one file and return its CSV row (never raises for bad input).

    Args:
        path: the image file.
        config: the pipeline configuration.

    Returns:
        A dict with the keys of :data:`CSV_COLUMNS` (``file`` is the file name only).
    """
    from ankle_core.io import read_radiograph

    row: dict[str, Any] = {c: "" for c in CSV_COLUMNS}
    row["file"] = Path(path).name
    row["runtime"] = config.runtime
    t0 = time.perf_counter()
    pipeline = _pipeline(config)  # model errors are not per-file: let them raise
    row["detector"] = f"{pipeline.detector.card.name} {pipeline.detector.card.version}"
    row["classifier"] = f"{pipeline.classifier.card.name} {pipeline.classifier.card.version}"
    try:
        result = pipeline.run(read_radiograph(path))
    except AnkleError as exc:
        row.update(status="error", error=str(exc))
    except Exception as exc:  # a reader bug must not stop a batch of thousands
        logger.warning("unexpected %s on one file", type(exc).__name__)
        row.update(status="error", error=f"unexpected {type(exc).__name__} while processing")
    else:
        row.update(
            status="ok",
            case_call=result.case_call,
            case_p_lmaf="" if result.case_p_lmaf is None else round(result.case_p_lmaf, 4),
            n_fragments=len(result.fragments),
            fragments=_fragments_json(result),
        )
    row["total_s"] = round(time.perf_counter() - t0, 4)
    return row


def find_images(folder: str | Path, *, recursive: bool = False) -> list[Path]:
    """Candidate image files in ``folder`` (sorted; hidden files and tables skipped)."""
    root = Path(folder)
    paths = root.rglob("*") if recursive else root.iterdir()
    return sorted(
        p
        for p in paths
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in _SKIP_SUFFIXES
    )


def run_batch(
    files: Sequence[Path],
    config: PipelineConfig,
    out_csv: str | Path,
    *,
    workers: int = 1,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Predict every file and write the CSV; returns the rows in file order."""
    return run_cases(
        predict_file,
        files,
        config,
        out_csv,
        CSV_COLUMNS,
        desc="radiographs",
        unit="file",
        workers=workers,
        progress=progress,
    )


def _main(args: Any) -> int:
    files = find_images(args.folder, recursive=args.recursive)
    if not files:
        print(f"error: no image files in {args.folder}")
        return 2
    config = PipelineConfig(
        detector=args.detector,
        classifier=args.classifier,
        models_dir=None if args.models_dir is None else str(args.models_dir),
        device=args.device,
        runtime=args.runtime,
        onnx_cache_dir=None if args.onnx_cache is None else str(args.onnx_cache),
    )
    rows = run_batch(files, config, args.out, workers=args.workers, progress=not args.no_progress)
    errors = sum(r["status"] == "error" for r in rows)
    print(f"{len(rows)} files, {errors} unreadable; predictions written to {args.out}")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``radiograph`` subcommand."""
    p = subparsers.add_parser("radiograph", help="two-stage LMAF/SFO pipeline over a folder")
    p.add_argument("folder", type=Path, help="folder of DICOM/PNG/JPEG radiographs")
    p.add_argument("--out", type=Path, default=Path("predictions.csv"))
    p.add_argument("--detector", default="lmaf-fragment-detector")
    p.add_argument("--classifier", default="lmaf-classifier-mobilenetv2")
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch")
    p.add_argument("--onnx-cache", type=Path, default=None, help="folder for ONNX exports")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--recursive", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_main)
