"""``python -m ankle_core.inference radiograph|ct|localise DIR --out predictions.csv``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ankle_core.device import configure_threads_for_cli
from ankle_core.errors import AnkleError
from ankle_core.logs import install_log_redaction

__all__ = ["main"]

_SUBCOMMANDS = (
    "ankle_core.inference.radiograph_cli",
    "ankle_core.inference.ct_cli",
    "ankle_core.inference.localiser_cli",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run batch inference; returns the exit status."""
    configure_threads_for_cli(sys.argv[1:] if argv is None else argv)  # before torch loads
    parser = argparse.ArgumentParser(
        prog="python -m ankle_core.inference", description="Batch inference over a folder."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency, not a module still to land
                raise
            continue
        module.register(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_redaction()  # no identifier in any log record
    try:
        status: int = args.func(args)
    except AnkleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
