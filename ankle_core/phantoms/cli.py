"""Command line: ``python -m ankle_core.phantoms export ...``.

Examples::

    python -m ankle_core.phantoms export --out data/phantoms --n 300 --kind radiograph --seed 1
    python -m ankle_core.phantoms export --out data/ct --n 40 --kind ct --size 96
    python -m ankle_core.phantoms export --demo --out demo_cases
    python -m ankle_core.phantoms montage --out docs/phantom_montage.png
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ankle_core.device import configure_threads_for_cli
from ankle_core.logs import install_log_redaction
from ankle_core.phantoms.demo import export_demo
from ankle_core.phantoms.export import export_dataset
from ankle_core.phantoms.montage import make_montage

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``export`` and ``montage`` sub-commands)."""
    parser = argparse.ArgumentParser(
        prog="python -m ankle_core.phantoms",
        description="Synthetic ankle phantoms (not patients): export real DICOM/PNG/NIfTI files.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export", help="write a phantom data set or the bundled demo set")
    exp.add_argument("--out", type=Path, required=True, help="destination folder")
    exp.add_argument("--n", type=int, default=None, help="number of cases")
    exp.add_argument("--kind", choices=("radiograph", "ct"), default=None)
    exp.add_argument("--seed", type=int, default=0, help="export seed (default 0)")
    exp.add_argument(
        "--size", type=int, default=None, help="radiograph side, or CT in-plane size, in pixels"
    )
    exp.add_argument("--difficulty", type=float, default=0.5, help="0 (easy) to 1 (hard)")
    exp.add_argument(
        "--paired",
        action="store_true",
        help="CT: each seed with and without its fracture, one patient id per pair; "
        "difficulty drawn per pair from [0, --difficulty]",
    )
    exp.add_argument(
        "--demo", action="store_true", help="write the bundled demo set (ignores --n/--kind)"
    )
    mon = sub.add_parser("montage", help="draw the docs montage of LMAF, SFO and intact cases")
    mon.add_argument("--out", type=Path, required=True, help="PNG file to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status (0 on success, 2 on bad arguments)."""
    configure_threads_for_cli(sys.argv[1:] if argv is None else argv)  # before torch loads
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()  # no identifier in any log record
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "montage":
        make_montage(args.out)
        print(f"Wrote the montage to {args.out}.")
        return 0
    if args.demo:
        rows = export_demo(args.out)
    else:
        if args.n is None or args.kind is None:
            parser.error("export needs --n and --kind (or --demo)")
        if args.n < 1 or not 0.0 <= args.difficulty <= 1.0:
            parser.error("--n must be at least 1 and --difficulty within [0, 1]")
        if args.paired and (args.kind != "ct" or args.n % 2):
            parser.error("--paired is for --kind ct with an even --n")
        rows = export_dataset(
            args.out,
            args.n,
            args.kind,
            seed=args.seed,
            size=args.size,
            difficulty=args.difficulty,
            paired=args.paired,
        )
    print(f"Wrote {len(rows)} phantom files to {args.out} (labels.csv, annotations.json).")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
