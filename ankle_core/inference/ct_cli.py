"""Batch inference over a folder of CT volumes: ``python -m ankle_core.inference ct``.

``python -m ankle_core.inference ct DIR --out predictions.csv`` runs the CT pipeline on every
case in ``DIR``: each NIfTI file (``.nii``, ``.nii.gz``), single DICOM file or ``.zip``, and
each sub-folder (a DICOM series), with a progress bar, one CSV row per case, written as
each batch finishes. A case that cannot be read gets a row with ``status=error`` and the
reason; the others go on. ``--resume`` skips the cases whose ``(input_sha256,
model_version)`` is already in the CSV; ``--engine ray`` runs the same functions on a Ray
cluster (:mod:`ankle_core.scale`, an optional extra). ``--manifest cases.csv`` (a ``path``
and an optional ``case_id`` column) replaces the folder.

The per-batch function :func:`predict_cases` (and :func:`predict_case` for one) is a pure,
picklable top-level function of ``(paths, CtConfig)``: spawned workers (``--workers``,
``--threads`` each) or Ray actors map it over batches of cases; each process loads the model
once (a per-process cache keyed on the frozen config). Reading (:func:`load_case`) and
predicting (:func:`predict_loaded`) are separate steps, so an engine can read in CPU tasks
and run the model elsewhere.
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

import numpy as np

from ankle_core.errors import AnkleError
from ankle_core.inference.batch import run_cases
from ankle_core.inference.ct import CtPipeline, CtResult, card_explanation
from ankle_core.inference.engine import (
    add_engine_arguments,
    add_source_arguments,
    card_version,
    case_list,
    engine_options,
    run_engine,
)
from ankle_core.scale.common import (
    BatchKind,
    BatchSummary,
    array_from_bytes,
    array_to_bytes,
    input_sha256,
)
from ankle_core.types import Volume

__all__ = [
    "CSV_COLUMNS",
    "CT_KIND",
    "CtConfig",
    "LoadedCase",
    "find_cases",
    "load_case",
    "model_version",
    "predict_case",
    "predict_cases",
    "predict_loaded",
    "register",
    "run_batch",
]

logger = logging.getLogger(__name__)

CSV_COLUMNS: tuple[str, ...] = (
    "file",
    "status",
    "error",
    "call",
    "probability",
    "in_domain",
    "domain_reason",
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
    "input_sha256",
    "model_version",
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
        runtime: the forward pass's runtime (``"auto"``: ONNX Runtime on the CPU).
        onnx_cache_dir: folder for the exported ONNX file (None: in memory).
    """

    model: str = "ct-fracture-mobilenet3d"
    models_dir: str | None = None
    device: str = "auto"
    explain: bool = True
    reference_method: bool = False
    spline_order: int = 3
    min_region_mm3: float = 20.0
    max_file_mb: float = 1024.0
    runtime: str = "torch"
    onnx_cache_dir: str | None = None


@functools.lru_cache(maxsize=2)
def _pipeline(config: CtConfig) -> CtPipeline:
    from ankle_core.explain.ct import PAPER_GRADCAM
    from ankle_core.models.weights import load_model

    model = load_model(config.model, models_dir=config.models_dir, device=config.device)
    explanation = PAPER_GRADCAM if config.reference_method else card_explanation(model)
    boxes = replace(explanation.boxes, min_volume_mm3=config.min_region_mm3)
    return CtPipeline(
        model,
        spline_order=config.spline_order,
        explanation=explanation,
        boxes=boxes,
        runtime=config.runtime,
        onnx_cache_dir=config.onnx_cache_dir,
    )


@dataclass(frozen=True)
class LoadedCase:
    """One case after reading: the volume, or the reason it could not be read.

    Attributes:
        path: the file or series folder.
        sha256: its content's sha256 (see :func:`~ankle_core.inference.batch.input_sha256`).
        volume: the decoded volume, or None when reading failed.
        error: why it could not be read ("" when it could).
        read_s: seconds spent reading and hashing.
    """

    path: str
    sha256: str
    volume: Volume | None
    error: str = ""
    read_s: float = 0.0


def load_case(path: str, config: CtConfig) -> LoadedCase:
    """Hash and read one case within the configured size limit (never raises for bad input)."""
    from ankle_core.config import ReadLimits
    from ankle_core.io import read_volume

    t0 = time.perf_counter()
    sha = input_sha256(path)
    limits = ReadLimits(max_file_bytes=int(config.max_file_mb * 1024 * 1024))
    try:
        volume: Volume | None = read_volume(path, limits=limits)
        error = ""
    except AnkleError as exc:
        volume, error = None, str(exc)
    except Exception as exc:  # a reader bug must not stop a batch of thousands
        logger.warning("unexpected %s on one case", type(exc).__name__)
        volume, error = None, f"unexpected {type(exc).__name__} while processing"
    return LoadedCase(path, sha, volume, error, time.perf_counter() - t0)


def model_version(config: CtConfig) -> str:
    """The resume key's model part, read from the card (the weights are not loaded)."""
    from ankle_core.config import Settings
    from ankle_core.models.card import read_card
    from ankle_core.models.weights import CARD_FILE, resolve_model_dir

    root = config.models_dir if config.models_dir is not None else Settings().models_dir
    return card_version(read_card(resolve_model_dir(config.model, root) / CARD_FILE))


def _row(result: CtResult) -> dict[str, Any]:
    regions = [r.to_dict() for r in result.regions]
    row: dict[str, Any] = dict(
        status="ok",
        call=result.call,
        probability=round(result.probability, 4),
        in_domain=result.domain.in_domain,
        domain_reason=result.domain.reason,
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
    return row


def _run_one(pipeline: CtPipeline, case: LoadedCase, explain: bool) -> CtResult | str:
    try:
        return pipeline.run(case.volume, explain=explain)  # type: ignore[arg-type]
    except AnkleError as exc:
        return str(exc)
    except Exception as exc:
        logger.warning("unexpected %s on one case", type(exc).__name__)
        return f"unexpected {type(exc).__name__} while processing"


def predict_loaded(cases: Sequence[LoadedCase], config: CtConfig) -> list[dict[str, Any]]:
    """Run the pipeline on read cases, one forward pass per stage; one row per case.

    Args:
        cases: from :func:`load_case` (unreadable ones become error rows).
        config: the pipeline configuration.

    Returns:
        Rows with the keys of :data:`CSV_COLUMNS`, in order (``file`` is the name only).
    """
    t0 = time.perf_counter()
    pipeline = _pipeline(config)  # model errors are not per-case: let them raise
    version = card_version(pipeline.model.card)
    good = [c for c in cases if c.volume is not None]
    results: dict[str, CtResult | str] = {}
    try:
        batch = pipeline.run_batch([c.volume for c in good], explain=config.explain)  # type: ignore[misc]
        results.update((c.path, r) for c, r in zip(good, batch, strict=True))
    except Exception:  # one bad case must not sink its batch-mates: retry them one by one
        results.update((c.path, _run_one(pipeline, c, config.explain)) for c in good)
    share = (time.perf_counter() - t0) / max(1, len(cases))
    rows = []
    for case in cases:
        row: dict[str, Any] = {c: "" for c in CSV_COLUMNS}
        row.update(
            file=Path(case.path).name,
            model=pipeline.model_label,
            input_sha256=case.sha256,
            model_version=version,
        )
        result = results.get(case.path, case.error)
        if isinstance(result, str):
            row.update(status="error", error=result)
        else:
            row.update(_row(result))
        row["total_s"] = round(case.read_s + share, 4)
        rows.append(row)
    return rows


def predict_cases(paths: Sequence[str], config: CtConfig) -> list[dict[str, Any]]:
    """Read and predict a batch of cases; one CSV row per case, in order (never raises for
    bad input).

    Args:
        paths: NIfTI files, DICOM files or ``.zip``, or DICOM series folders.
        config: the pipeline configuration.

    Returns:
        Rows with the keys of :data:`CSV_COLUMNS` (``file`` is the name only).
    """
    return predict_loaded([load_case(p, config) for p in paths], config)


def predict_case(path: str, config: CtConfig) -> dict[str, Any]:
    """Run the pipeline on one case and return its CSV row (never raises for bad input).

    Args:
        path: a NIfTI file, a DICOM file or ``.zip``, or a DICOM series folder.
        config: the pipeline configuration.

    Returns:
        A dict with the keys of :data:`CSV_COLUMNS` (``file`` is the name only).
    """
    return predict_cases([path], config)[0]


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
    threads: int | None = None,
    batch_size: int = 2,
    progress: bool = True,
    resume: bool = False,
    names: Sequence[str] | None = None,
) -> BatchSummary:
    """Predict every case with the local engine and write the CSV (rows in case order)."""
    return run_cases(
        predict_cases,
        cases,
        config,
        out_csv,
        CSV_COLUMNS,
        model_version=model_version(config),
        desc="CT volumes",
        unit="case",
        workers=workers,
        threads=threads,
        batch_size=batch_size,
        progress=progress,
        resume=resume,
        names=names,
    )


def _main(args: Any) -> int:
    listed = case_list(args, find_cases)
    cases = list(listed.paths)
    if not cases:
        print(f"error: no CT cases in {args.folder}")
        return 2
    from ankle_core.config import Settings

    settings = Settings.from_env()
    config = CtConfig(
        runtime=args.runtime or settings.runtime,
        onnx_cache_dir=str(settings.cache_dir / "onnx"),
        model=args.model,
        models_dir=None if args.models_dir is None else str(args.models_dir),
        device=args.device,
        explain=not args.no_explain,
        reference_method=args.paper_gradcam,
        spline_order=args.spline_order,
        min_region_mm3=args.min_region_mm3,
    )
    summary = run_engine(
        CT_KIND, run_batch, cases, config, args.out, engine_options(args), listed.names
    )
    print(f"{summary.line()}; predictions written to {args.out}")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``ct`` subcommand."""
    p = subparsers.add_parser("ct", help="3D CNN fracture probability and Grad-CAM boxes")
    add_source_arguments(p, "folder of NIfTI files and DICOM series folders")
    p.add_argument("--out", type=Path, default=Path("predictions.csv"))
    p.add_argument("--model", default="ct-fracture-mobilenet3d")
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-explain", action="store_true", help="skip Grad-CAM and boxes")
    p.add_argument(
        "--runtime",
        choices=("auto", "torch", "onnx"),
        default=None,
        help="forward pass: auto (default, or ANKLE_RUNTIME) = ONNX Runtime on the CPU",
    )
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
    add_engine_arguments(p, batch_size=2)
    p.set_defaults(func=_main)


def _encode(case: LoadedCase) -> dict[str, Any]:
    v = case.volume
    return {
        "path": case.path,
        "sha256": case.sha256,
        "error": case.error,
        "read_s": case.read_s,
        "array": b"" if v is None else array_to_bytes(v.array),
        "spacing": b"" if v is None else array_to_bytes(np.asarray(v.spacing_mm, np.float64)),
        "affine": b"" if v is None else array_to_bytes(v.affine),
    }


def _decode(record: dict[str, Any]) -> LoadedCase:
    volume = None
    if record["array"]:
        spacing = tuple(float(s) for s in array_from_bytes(record["spacing"]))
        volume = Volume(
            array_from_bytes(record["array"]),
            spacing,  # type: ignore[arg-type]
            array_from_bytes(record["affine"]),
        )
    return LoadedCase(
        str(record["path"]),
        str(record["sha256"]),
        volume,
        str(record["error"]),
        float(record["read_s"]),
    )


#: The CT batch as an engine sees it (see :class:`~ankle_core.inference.engine.BatchKind`).
CT_KIND: BatchKind[CtConfig, LoadedCase] = BatchKind(
    name="ct",
    columns=CSV_COLUMNS,
    load=load_case,
    encode=_encode,
    decode=_decode,
    predict=predict_loaded,
    model_version=model_version,
    unit="case",
    read_in_actor=True,  # a volume's reading is much of its work (docs/scale.md)
)
