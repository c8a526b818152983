"""``python -m ankle_core.pacs``: search a PACS, or analyse a study and send the results back.

Credentials are read from the environment only (``ANKLE_PACS_PASSWORD`` or
``ANKLE_PACS_TOKEN``), never from the command line. ``--dimse HOST:PORT`` talks DIMSE
(C-FIND, C-GET, C-STORE) to a PACS without DICOMweb; it admits callers by AE title.
Errors (refused login, unreachable server, unknown study, no readable image) print one
line on stderr and exit with status 1, without a traceback.

Examples::

    ANKLE_PACS_PASSWORD=... python -m ankle_core.pacs analyse \\
        --url http://pacs:8042/dicom-web --user ankle --study 1.2.3 --send
    python -m ankle_core.pacs search --url http://pacs:8042/dicom-web --user ankle \\
        --modality CR --from 20240101
    # every CT series of January 2024, on a Ray cluster (see docs/scale.md)
    python -m ankle_core.pacs batch ct --from 20240101 --to 20240131 \\
        --staging /shared/pacs-ct -- --out /shared/ct.csv --engine ray --address auto
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ankle_core.config import Settings
from ankle_core.device import configure_threads_for_cli
from ankle_core.errors import AnkleError, PacsError
from ankle_core.logs import install_log_redaction
from ankle_core.pacs.analysis import (
    analyse_images,
    describe_ct,
    describe_radiograph,
    retrieve_study,
    send_results,
)
from ankle_core.pacs.client import PacsClient
from ankle_core.pacs.connection import PacsConnection
from ankle_core.pacs.dimse import DimseClient, DimseConnection

if TYPE_CHECKING:
    from ankle_core.inference.ct import CtPipeline
    from ankle_core.inference.radiograph import RadiographPipeline

__all__ = ["build_parser", "main"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="DICOMweb root (default: ANKLE_PACS_URL)")
    parser.add_argument(
        "--dimse",
        metavar="HOST:PORT",
        help="use DIMSE (C-FIND, C-GET, C-STORE) instead of DICOMweb",
    )
    parser.add_argument(
        "--called-aet",
        default="ORTHANC",
        help="the PACS's AE title, with --dimse (default: %(default)s)",
    )
    parser.add_argument(
        "--calling-aet",
        default="ANKLE",
        help="this application's AE title, with --dimse (default: %(default)s)",
    )
    parser.add_argument(
        "--user",
        help="HTTP basic user (default: ANKLE_PACS_USER); the "
        "password comes from ANKLE_PACS_PASSWORD",
    )
    parser.add_argument("--timeout", type=float, help="seconds per request (default 20)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands ``analyse`` and ``search``)."""
    parser = argparse.ArgumentParser(
        prog="python -m ankle_core.pacs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    analyse = sub.add_parser("analyse", help="analyse a study's radiographs and CT series")
    _common(analyse)
    analyse.add_argument("--study", required=True, help="Study Instance UID")
    analyse.add_argument("--send", action="store_true", help="store the results in the study")
    analyse.add_argument(
        "--model",
        default="lmaf-classifier-mobilenetv2",
        help="radiograph classifier (default: %(default)s)",
    )
    analyse.add_argument(
        "--detector",
        default="lmaf-fragment-detector",
        help="radiograph fragment detector (default: %(default)s)",
    )
    analyse.add_argument(
        "--ct-model", default="ct-fracture-mobilenet3d", help="CT model (default: %(default)s)"
    )
    analyse.add_argument("--models-dir", type=Path, help="installed models (ANKLE_MODELS_DIR)")
    analyse.add_argument("--device", help="auto, cpu or cuda (ANKLE_DEVICE)")
    analyse.add_argument(
        "--no-explain", action="store_true", help="skip saliency and Grad-CAM regions (faster)"
    )
    search = sub.add_parser("search", help="search studies (no patient identity is printed)")
    _common(search)
    search.add_argument("--patient-id")
    search.add_argument("--accession")
    search.add_argument("--from", dest="date_from", help="first study date YYYYMMDD")
    search.add_argument("--to", dest="date_to", help="last study date YYYYMMDD")
    search.add_argument("--modality")
    batch = sub.add_parser(
        "batch",
        help="stage a query's series (de-identified) and run batch inference over them",
    )
    _common(batch)
    batch.add_argument("kind", choices=("radiograph", "ct"), help="which batch CLI runs")
    batch.add_argument("--from", dest="date_from", help="first study date YYYYMMDD")
    batch.add_argument("--to", dest="date_to", help="last study date YYYYMMDD")
    batch.add_argument("--study", help="one Study Instance UID")
    batch.add_argument("--limit", type=int, default=1000, help="most studies per modality")
    batch.add_argument(
        "--staging",
        type=Path,
        required=True,
        help="folder for the de-identified files (shared by the cluster's nodes); series "
        "already there are not retrieved again",
    )
    batch.epilog = (
        "After --, the flags of python -m ankle_core.inference KIND (--out, --engine, ...)."
    )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "models_dir", None) is not None:
        settings = replace(settings, models_dir=args.models_dir)
    if getattr(args, "device", None):
        settings = replace(settings, device=args.device)
    if args.timeout is not None:
        settings = replace(settings, pacs_timeout_s=args.timeout)
    return settings


def _client(args: argparse.Namespace, settings: Settings) -> PacsClient | DimseClient:
    if not args.dimse:
        return PacsClient(PacsConnection.from_settings(settings, url=args.url, user=args.user))
    host, _, port = str(args.dimse).rpartition(":")
    if not host or not port.isdigit():
        raise PacsError("--dimse takes HOST:PORT, e.g. pacs.local:104.")
    return DimseClient(
        DimseConnection(
            host=host,
            port=int(port),
            called_aet=args.called_aet,
            calling_aet=args.calling_aet,
            timeout_s=settings.pacs_timeout_s,
        )
    )


def _analyse(
    args: argparse.Namespace, settings: Settings, client: PacsClient | DimseClient
) -> None:
    def radiograph_pipeline() -> RadiographPipeline:
        from ankle_core.inference.radiograph import RadiographPipeline

        return RadiographPipeline.from_names(
            args.detector,
            args.model,
            models_dir=settings.models_dir,
            device=settings.device,
            runtime=settings.runtime,
            onnx_cache_dir=settings.cache_dir / "onnx",
        )

    def ct_pipeline() -> CtPipeline:
        from ankle_core.inference.ct import CtPipeline

        return CtPipeline.from_name(
            args.ct_model,
            models_dir=settings.models_dir,
            device=settings.device,
            runtime=settings.runtime,
            onnx_cache_dir=settings.cache_dir / "onnx",
        )

    images = retrieve_study(client, args.study, limits=settings.limits)
    analysis = analyse_images(
        images,
        radiograph_pipeline=radiograph_pipeline,
        ct_pipeline=ct_pipeline,
        explain=not args.no_explain,
    )
    for outcome in analysis.radiographs:
        print(describe_radiograph(outcome))
    for ct in analysis.cts:
        print(describe_ct(ct))
    for note in analysis.notes:
        print(f"note: {note}")
    if args.send:
        for sent in send_results(client, analysis, args.study):
            print(
                f"sent {sent.kind} {sent.sop_uid} ({sent.series_description}; {sent.source_label})"
            )


def _search(args: argparse.Namespace, client: PacsClient | DimseClient) -> None:
    studies = client.search_studies(
        patient_id=args.patient_id,
        accession_number=args.accession,
        date_from=args.date_from,
        date_to=args.date_to,
        modality=args.modality,
    )
    for study in studies:
        print(f"{study.study_uid}  {study.label}  {study.description}")
    if not studies:
        print("no study found")


def _batch(args: argparse.Namespace, client: PacsClient | DimseClient) -> int:
    from ankle_core.inference.__main__ import main as inference_main
    from ankle_core.pacs.batch import DicomwebQuery, stage_dicomweb
    from ankle_core.scale.sources import write_manifest

    if isinstance(client, DimseClient):
        raise PacsError("batch retrieves over DICOMweb: give --url, not --dimse.")
    query = DicomwebQuery(args.date_from, args.date_to, args.study, args.limit)
    staged = stage_dicomweb(client, query, args.kind, args.staging)
    if not staged.paths:
        print("no matching series found")
        return 0
    names = staged.names or tuple(p.name for p in staged.paths)
    manifest = write_manifest(args.staging / f"{args.kind}-manifest.csv", staged.paths, names)
    print(f"{len(staged.paths)} {args.kind} case(s) staged under {args.staging}")
    return inference_main([args.kind, "--manifest", str(manifest), *args.inference_args])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 on a PACS, input or model error (one line on stderr).
    """
    words = list(sys.argv[1:] if argv is None else argv)
    configure_threads_for_cli(words)  # before torch loads
    rest: list[str] = []
    if "--" in words:  # batch: what follows goes to the inference CLI
        cut = words.index("--")
        words, rest = words[:cut], words[cut + 1 :]
    args = build_parser().parse_args(words)
    args.inference_args = rest
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    try:
        settings = _settings(args)
        client = _client(args, settings)
        if args.command == "analyse":
            _analyse(args, settings, client)
        elif args.command == "batch":
            return _batch(args, client)
        else:
            _search(args, client)
    except AnkleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
