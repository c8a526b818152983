"""Batch inference over a folder of radiographs: ``python -m ankle_core.inference radiograph``.

``python -m ankle_core.inference radiograph DIR --out predictions.csv`` runs the two-stage
pipeline on every image file in ``DIR`` (DICOM, PNG, JPEG) with a progress bar and writes one
CSV row per file, as each batch finishes. A file that cannot be read gets a row with
``status=error`` and the reason; the other files go on. ``--resume`` skips the files whose
``(input_sha256, model_version)`` is already in the CSV. ``--engine ray`` runs the same
functions on a Ray cluster (:mod:`ankle_core.scale`, an optional extra). ``--manifest
cases.csv`` (a ``path`` and an optional ``case_id`` column) replaces the folder.

The per-batch function :func:`predict_files` (and :func:`predict_file` for one) is a pure,
picklable top-level function of ``(paths, PipelineConfig)``: spawned workers (``--workers``,
``--threads`` each) or Ray actors map it over batches of files, one forward pass per stage
per batch; each process loads the models once (a per-process cache keyed on the frozen
config). Reading (:func:`load_file`) and predicting (:func:`predict_loaded`) are separate
steps, so an engine can decode in CPU tasks and run the models elsewhere.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ankle_core.errors import AnkleError
from ankle_core.inference.batch import run_cases
from ankle_core.inference.engine import (
    add_engine_arguments,
    add_source_arguments,
    card_version,
    case_list,
    engine_options,
    run_engine,
)
from ankle_core.inference.radiograph import RadiographPipeline, RadiographResult
from ankle_core.scale.common import (
    BatchKind,
    BatchSummary,
    array_from_bytes,
    array_to_bytes,
    input_sha256,
)
from ankle_core.types import Radiograph

__all__ = [
    "CSV_COLUMNS",
    "RADIOGRAPH_KIND",
    "LoadedFile",
    "PipelineConfig",
    "find_images",
    "load_file",
    "model_version",
    "predict_file",
    "predict_files",
    "predict_loaded",
    "register",
    "run_batch",
]

logger = logging.getLogger(__name__)

CSV_COLUMNS: tuple[str, ...] = (
    "file",
    "status",
    "error",
    "case_call",
    "case_p_lmaf",
    "in_domain",
    "domain_reason",
    "n_fragments",
    "fragments",
    "detector",
    "classifier",
    "runtime",
    "total_s",
    "input_sha256",
    "model_version",
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
        runtime: ``"torch"``, ``"onnx"`` or ``"auto"`` (ONNX Runtime on the CPU).
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


@dataclass(frozen=True)
class LoadedFile:
    """One file after reading: the radiograph, or the reason it could not be read.

    Attributes:
        path: the file.
        sha256: the file's sha256 (see :func:`~ankle_core.inference.batch.input_sha256`).
        radiograph: the decoded image, or None when reading failed.
        error: why it could not be read ("" when it could).
        read_s: seconds spent reading and hashing.
    """

    path: str
    sha256: str
    radiograph: Radiograph | None
    error: str = ""
    read_s: float = 0.0


def load_file(path: str, config: PipelineConfig | None = None) -> LoadedFile:
    """Hash and decode one file (never raises for bad input; ``config`` is unused)."""
    from ankle_core.io import read_radiograph

    t0 = time.perf_counter()
    sha = input_sha256(path)
    try:
        radiograph: Radiograph | None = read_radiograph(path)
        error = ""
    except AnkleError as exc:
        radiograph, error = None, str(exc)
    except Exception as exc:  # a reader bug must not stop a batch of thousands
        logger.warning("unexpected %s on one file", type(exc).__name__)
        radiograph, error = None, f"unexpected {type(exc).__name__} while processing"
    return LoadedFile(path, sha, radiograph, error, time.perf_counter() - t0)


def model_version(config: PipelineConfig) -> str:
    """The resume key's model part, read from the cards (the weights are not loaded)."""
    from ankle_core.config import Settings
    from ankle_core.models.card import read_card
    from ankle_core.models.weights import CARD_FILE, resolve_model_dir

    root = config.models_dir if config.models_dir is not None else Settings().models_dir
    cards = [
        read_card(resolve_model_dir(name, root) / CARD_FILE)
        for name in (config.detector, config.classifier)
    ]
    return " + ".join(card_version(c) for c in cards)


def predict_loaded(files: Sequence[LoadedFile], config: PipelineConfig) -> list[dict[str, Any]]:
    """Run the pipeline on decoded files, one forward pass per stage; one row per file.

    Args:
        files: from :func:`load_file` (unreadable ones become error rows).
        config: the pipeline configuration.

    Returns:
        Rows with the keys of :data:`CSV_COLUMNS`, in order (``file`` is the name only).
    """
    t0 = time.perf_counter()
    pipeline = _pipeline(config)  # model errors are not per-file: let them raise
    version = " + ".join(card_version(m.card) for m in (pipeline.detector, pipeline.classifier))
    good = [f for f in files if f.radiograph is not None]
    results: dict[str, RadiographResult | str] = {}
    try:
        for f, r in zip(good, pipeline.run_batch([f.radiograph for f in good]), strict=True):  # type: ignore[misc]
            results[f.path] = r
    except Exception:  # one bad case must not sink its batch-mates: retry them one by one
        for f in good:
            results[f.path] = _run_one(pipeline, f)
    share = (time.perf_counter() - t0) / max(1, len(files))
    rows = []
    for f in files:
        row: dict[str, Any] = {c: "" for c in CSV_COLUMNS}
        row.update(
            file=Path(f.path).name,
            runtime=config.runtime,
            detector=f"{pipeline.detector.card.name} {pipeline.detector.card.version}",
            classifier=f"{pipeline.classifier.card.name} {pipeline.classifier.card.version}",
            input_sha256=f.sha256,
            model_version=version,
        )
        result = results.get(f.path, f.error)
        if isinstance(result, str):
            row.update(status="error", error=result)
        else:
            row.update(
                status="ok",
                case_call=result.case_call,
                case_p_lmaf="" if result.case_p_lmaf is None else round(result.case_p_lmaf, 4),
                in_domain=result.domain.in_domain,
                domain_reason=result.domain.reason,
                n_fragments=len(result.fragments),
                fragments=_fragments_json(result),
            )
        row["total_s"] = round(f.read_s + share, 4)
        rows.append(row)
    return rows


def _run_one(pipeline: RadiographPipeline, f: LoadedFile) -> RadiographResult | str:
    try:
        return pipeline.run(f.radiograph)  # type: ignore[arg-type]
    except AnkleError as exc:
        return str(exc)
    except Exception as exc:
        logger.warning("unexpected %s on one file", type(exc).__name__)
        return f"unexpected {type(exc).__name__} while processing"


def predict_files(paths: Sequence[str], config: PipelineConfig) -> list[dict[str, Any]]:
    """Read and predict a batch of files; one CSV row per file, in order (never raises for
    bad input).

    Args:
        paths: image files.
        config: the pipeline configuration.

    Returns:
        Rows with the keys of :data:`CSV_COLUMNS` (``file`` is the file name only).
    """
    return predict_loaded([load_file(p, config) for p in paths], config)


def predict_file(path: str, config: PipelineConfig) -> dict[str, Any]:
    """Run the pipeline on one file and return its CSV row (never raises for bad input).

    Args:
        path: the image file.
        config: the pipeline configuration.

    Returns:
        A dict with the keys of :data:`CSV_COLUMNS` (``file`` is the file name only).
    """
    return predict_files([path], config)[0]


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
    threads: int | None = None,
    batch_size: int = 4,
    progress: bool = True,
    resume: bool = False,
    names: Sequence[str] | None = None,
) -> BatchSummary:
    """Predict every file with the local engine and write the CSV (rows in file order)."""
    return run_cases(
        predict_files,
        files,
        config,
        out_csv,
        CSV_COLUMNS,
        model_version=model_version(config),
        desc="radiographs",
        unit="file",
        workers=workers,
        threads=threads,
        batch_size=batch_size,
        progress=progress,
        resume=resume,
        names=names,
    )


def _main(args: Any) -> int:
    listed = case_list(args, lambda folder: find_images(folder, recursive=args.recursive))
    files = list(listed.paths)
    if not files:
        print(f"error: no image files in {args.folder}")
        return 2
    from ankle_core.config import Settings

    settings = Settings.from_env()
    onnx_cache = args.onnx_cache or settings.cache_dir / "onnx"
    config = PipelineConfig(
        detector=args.detector,
        classifier=args.classifier,
        models_dir=None if args.models_dir is None else str(args.models_dir),
        device=args.device,
        runtime=args.runtime or settings.runtime,
        onnx_cache_dir=str(onnx_cache),
    )
    summary = run_engine(
        RADIOGRAPH_KIND, run_batch, files, config, args.out, engine_options(args), listed.names
    )
    print(f"{summary.line()}; predictions written to {args.out}")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``radiograph`` subcommand."""
    p = subparsers.add_parser("radiograph", help="two-stage LMAF/SFO pipeline over a folder")
    add_source_arguments(p, "folder of DICOM/PNG/JPEG radiographs")
    p.add_argument("--out", type=Path, default=Path("predictions.csv"))
    p.add_argument("--detector", default="lmaf-fragment-detector")
    p.add_argument("--classifier", default="lmaf-classifier-mobilenetv2")
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--runtime",
        choices=("auto", "torch", "onnx"),
        default=None,
        help="auto (default, or ANKLE_RUNTIME): ONNX Runtime on the CPU, torch on a GPU",
    )
    p.add_argument(
        "--onnx-cache",
        type=Path,
        default=None,
        help="folder for ONNX exports (default: <ANKLE_CACHE_DIR>/onnx)",
    )
    p.add_argument("--recursive", action="store_true")
    add_engine_arguments(p, batch_size=4)
    p.set_defaults(func=_main)


def _encode(f: LoadedFile) -> dict[str, Any]:
    r = f.radiograph
    spacing = (
        (float("nan"), float("nan"))
        if r is None or r.pixel_spacing_mm is None
        else r.pixel_spacing_mm
    )
    return {
        "path": f.path,
        "sha256": f.sha256,
        "error": f.error,
        "read_s": f.read_s,
        "pixels": b"" if r is None else array_to_bytes(r.pixels),
        "spacing_y": float(spacing[0]),
        "spacing_x": float(spacing[1]),
    }


def _decode(record: dict[str, Any]) -> LoadedFile:
    radiograph = None
    if record["pixels"]:
        sy, sx = float(record["spacing_y"]), float(record["spacing_x"])
        spacing = None if math.isnan(sy) else (sy, sx)
        radiograph = Radiograph(array_from_bytes(record["pixels"]), spacing)
    return LoadedFile(
        str(record["path"]),
        str(record["sha256"]),
        radiograph,
        str(record["error"]),
        float(record["read_s"]),
    )


#: The radiograph batch as an engine sees it (see :class:`~ankle_core.inference.engine.BatchKind`).
RADIOGRAPH_KIND: BatchKind[PipelineConfig, LoadedFile] = BatchKind(
    name="radiograph",
    columns=CSV_COLUMNS,
    load=load_file,
    encode=_encode,
    decode=_decode,
    predict=predict_loaded,
    model_version=model_version,
    unit="file",
)
