"""Command line: ``python -m ankle_core.io audit PATH... [--csv OUT]``.

Prints one aligned row per file (folders recurse) and optionally writes the rows as CSV.
Unreadable files are rows with their reason; the exit code is 0 unless the arguments are
wrong.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ankle_core.device import configure_threads_for_cli
from ankle_core.io._guard import suppress_identifying_warnings
from ankle_core.io.audit import audit_paths, format_table, write_csv


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    configure_threads_for_cli(sys.argv[1:] if argv is None else argv)  # before torch loads
    parser = argparse.ArgumentParser(prog="python -m ankle_core.io")
    sub = parser.add_subparsers(dest="command", required=True)
    audit = sub.add_parser("audit", help="report what the readers find in each file")
    audit.add_argument("paths", nargs="+", help="files or folders (recursed)")
    audit.add_argument("--csv", dest="csv_out", default=None, help="also write a CSV here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    suppress_identifying_warnings()
    rows = audit_paths(args.paths)
    print(format_table(rows))
    if args.csv_out:
        write_csv(rows, args.csv_out)
        print(f"\n{len(rows)} rows written to {args.csv_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
