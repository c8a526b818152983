"""Batch inference over a folder of CT volumes: ``python -m ankle_core.inference ct``.

``python -m ankle_core.inference ct DIR --out predictions.csv`` runs the CT pipeline on every
case in ``DIR``: each NIfTI file (``.nii``, ``.nii.gz``), single DICOM file or ``.zip``, and
each sub-folder (a DICOM series), with a progress bar, one CSV row per case. A case that
cannot be read gets a row with ``status=error`` and the reason; the others go on.

The per-case function :func:`predict_case` is a pure, picklable top-level function of
``(path, CtConfig)``: a process pool (``--workers``) or a distributed engine can map it over
cases; each worker process loads the model once (a per-process cache keyed on the frozen
config).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ankle_core.errors import AnkleError
from ankle_core.inference.batch import run_cases
from ankle_core.inference.ct import CtPipeline, card_explanation

__all__ = ["CSV_COLUMNS", "CtConfig", "find_cases", "predict_case", "register", "run_batch"]

logger = logging.getLogger(__name__)

CSV_COLUMNS: tuple[str, ...] = (
    "file",
    "status",
    "error",
    "call",
    "probability",
    "n_regions",
    "top_center_voxel",
    "top_center_mm",
    "top_box_voxels",
    "top_size_mm",
    "regions",
    "explanation",
    "warnings",
    "model",
    "preprocess_s",
    "forward_s",
    "gradcam_s",
    "boxes_s",
    "total_s",
)
_SKIP_SUFFIXES = {".csv", ".json", ".txt", ".md", ".onnx", ".safetensors", ".py", ".png"}


@dataclass(frozen=True)
class CtConfig:
    """Everything a worker needs to build the pipeline (hashable, picklable).

    Attributes:
        model: installed name or folder of the CT model.
        models_dir: folder of installed models (None: the project's ``models/``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        explain: compute Grad-CAM regions.
        reference_method: explain with the reference paper's Grad-CAM and Otsu, not the
            card's settings.
        spline_order: spline order of the heat-map upsampling.
        min_region_mm3: smallest region kept, mm^3.
        max_file_mb: largest file the reader accepts, MB (a 512 x 512 x 400 int16 NIfTI is
            just over 200 MB, the library's default).
    """

    model: str = "ct-fracture-mobilenet3d"
    models_dir: str | None = None
    device: str = "auto"
    explain: bool = True
    reference_method: bool = False
    spline_order: int = 3
    min_region_mm3: float = 20.0
    max_file_mb: float = 1024.0


@functools.lru_cache(maxsize=2)
def _pipeline(config: CtConfig) -> CtPipeline:
    from ankle_core.explain.ct import PAPER_GRADCAM
    from ankle_core.models.weights import load_model

    model = load_model(config.model, models_dir=config.models_dir, device=config.device)
    explanation = PAPER_GRADCAM if config.reference_method else card_explanation(model)
    boxes = replace(explanation.boxes, min_volume_mm3=config.min_region_mm3)
    return CtPipeline(model, spline_order=config.spline_order, explanation=explanation, boxes=boxes)


def predict_case(path: str, config: CtConfig) -> dict[str, Any]:
    """Run the pipeline on one case and return its CSV row (never raises for bad input).

    Args:
        path: a NIfTI file, a DICOM file or ``.zip``, or a DICOM series folder.
        config: the pipeline configuration.

    Returns:
        A dict with the keys of :data:`CSV_COLUMNS` (``file`` is the name only).
    """
    from ankle_core.config import ReadLimits
    from ankle_core.io import read_volume

    row: dict[str, Any] = {c: "" for c in CSV_COLUMNS}
    row["file"] = Path(path).name
    t0 = time.perf_counter()
    pipeline = _pipeline(config)  # model errors are not per-case: let them raise
    row["model"] = pipeline.model_label
    limits = ReadLimits(max_file_bytes=int(config.max_file_mb * 1024 * 1024))
    try:
        volume = read_volume(path, limits=limits)
        result = pipeline.run(volume, explain=config.explain)
    except AnkleError as exc:
        row.update(status="error", error=str(exc))
    except Exception as exc:  # a reader bug must not stop a batch of thousands
        logger.warning("unexpected %s on one case", type(exc).__name__)
        row.update(status="error", error=f"unexpected {type(exc).__name__} while processing")
    else:
        regions = [r.to_dict() for r in result.regions]
        row.update(
            status="ok",
            call=result.call,
            probability=round(result.probability, 4),
            n_regions=len(regions),
            regions=json.dumps(regions),
            explanation=result.explanation.label if result.explanation else "",
            warnings=" | ".join(result.warnings),
            **{f"{k}_s": round(result.timings_s.get(k, 0.0), 4) for k in ("preprocess",
               "forward", "gradcam", "boxes")},
        )  # fmt: skip
        if regions:
            top = regions[0]
            row.update(
                top_center_voxel=json.dumps(top["center_voxel"]),
                top_center_mm=json.dumps(top["center_mm"]),
                top_box_voxels=json.dumps(top["box_voxels"]),
                top_size_mm=json.dumps(top["size_mm"]),
            )
    row["total_s"] = round(time.perf_counter() - t0, 4)
    return row


def find_cases(folder: str | Path) -> list[Path]:
    """Cases in ``folder``: files (tables and text skipped) and sub-folders (DICOM series)."""
    root = Path(folder)
    return sorted(
        p
        for p in root.iterdir()
        if not p.name.startswith(".")
        and (p.is_dir() or (p.is_file() and p.suffix.lower() not in _SKIP_SUFFIXES))
    )


def run_batch(
    cases: Sequence[Path],
    config: CtConfig,
    out_csv: str | Path,
    *,
    workers: int = 1,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Predict every case and write the CSV; returns the rows in case order."""
    return run_cases(
        predict_case,
        cases,
        config,
        out_csv,
        CSV_COLUMNS,
        desc="CT volumes",
        unit="case",
        workers=workers,
        progress=progress,
    )


def _main(args: Any) -> int:
    cases = find_cases(args.folder)
    if not cases:
        print(f"error: no CT cases in {args.folder}")
        return 2
    config = CtConfig(
        model=args.model,
        models_dir=None if args.models_dir is None else str(args.models_dir),
        device=args.device,
        explain=not args.no_explain,
        reference_method=args.paper_gradcam,
        spline_order=args.spline_order,
        min_region_mm3=args.min_region_mm3,
    )
    rows = run_batch(cases, config, args.out, workers=args.workers, progress=not args.no_progress)
    errors = sum(r["status"] == "error" for r in rows)
    print(f"{len(rows)} cases, {errors} unreadable; predictions written to {args.out}")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``ct`` subcommand."""
    p = subparsers.add_parser("ct", help="3D CNN fracture probability and Grad-CAM boxes")
    p.add_argument("folder", type=Path, help="folder of NIfTI files and DICOM series folders")
    p.add_argument("--out", type=Path, default=Path("predictions.csv"))
    p.add_argument("--model", default="ct-fracture-mobilenet3d")
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-explain", action="store_true", help="skip Grad-CAM and boxes")
    p.add_argument(
        "--paper-gradcam",
        "--study-gradcam",  # deprecated alias, kept so existing scripts still run
        dest="paper_gradcam",
        action="store_true",
        help="explain with the reference paper's Grad-CAM and Otsu instead of the card's "
        "settings (--study-gradcam is a deprecated alias)",
    )
    p.add_argument("--spline-order", type=int, default=3)
    p.add_argument("--min-region-mm3", type=float, default=20.0)
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_main)
