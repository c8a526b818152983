"""``python -m ankle_core.training detector|classifier|ct ...``: train models on a folder."""

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


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen trainer; returns the exit status."""
    configure_threads_for_cli(sys.argv[1:] if argv is None else argv)  # before torch loads
    parser = argparse.ArgumentParser(
        prog="python -m ankle_core.training", description="Train ankle_core models."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    from ankle_core.training import radiograph_cli

    radiograph_cli.register(sub)
    from ankle_core.training import localiser_cli

    localiser_cli.register(sub)
    localiser_cli.register_export(sub)
    try:
        ct_cli = importlib.import_module("ankle_core.training.ct_cli")
    except ModuleNotFoundError as exc:
        if exc.name != "ankle_core.training.ct_cli":
            raise
    else:
        ct_cli.register(sub)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in model cards
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
