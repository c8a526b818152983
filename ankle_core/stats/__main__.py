"""Command line: ``python -m ankle_core.stats report predictions.csv --truth y --scores a,b``.

The predictions may be a CSV, a Parquet file, or a folder of Parquet partitions (the Ray
engine's ``<out>.parts/``, or any ``*.parquet`` files with the same columns).

Writes ``report.html`` (interactive, self-contained) and ``report.json`` (every number) to
``--out`` (default: the current directory) and prints their paths.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import pandas as pd

from ankle_core.device import configure_threads_for_cli
from ankle_core.errors import InvalidInputError
from ankle_core.logs import install_log_redaction
from ankle_core.stats.report import build_report
from ankle_core.stats.report_html import render_html

logger = logging.getLogger("ankle_core.stats")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ankle_core.stats", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="write an HTML and a JSON cohort report")
    rep.add_argument(
        "predictions", type=Path, help="CSV, Parquet file or folder of Parquet partitions"
    )
    rep.add_argument("--truth", required=True, help="0/1 truth column (1 = fracture)")
    rep.add_argument("--scores", required=True, help="comma-separated score columns")
    rep.add_argument(
        "--threshold",
        default="youden",
        help="youden | max_accuracy | 0.3 | sensitivity:0.9 | specificity:0.9",
    )
    rep.add_argument(
        "--subgroup", default=None, help="column for per-level AUCs (site, view, age band)"
    )
    rep.add_argument("--split", default=None, help="column with validation/test rows")
    rep.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (default 1000)")
    rep.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    rep.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    rep.add_argument(
        "--reader-threshold",
        type=float,
        default=None,
        help="reader score at or above which a reader's call is positive (default 0.5 for "
        "probabilities; required for rating scales to get the reader study)",
    )
    rep.add_argument("--out", type=Path, default=Path("."), help="output folder")
    return parser


def read_predictions(path: Path) -> pd.DataFrame:
    """One row per case from a CSV, a Parquet file or a folder of Parquet partitions.

    Raises:
        InvalidInputError: a folder without ``*.parquet`` files.
        OSError, ValueError: the file cannot be read as its format.
    """
    if path.is_dir():
        parts = sorted(path.glob("*.parquet"))
        if not parts:
            raise InvalidInputError(f"{path.name} holds no .parquet partitions.")
        return _numbers(pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True))
    if path.suffix.lower() in (".parquet", ".pq"):
        return _numbers(pd.read_parquet(path))
    return pd.read_csv(path)


def _numbers(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns that are all numbers become numbers, as ``read_csv`` would read them
    (the Ray engine's partitions store every cell as text)."""
    for name in df.columns:
        if df[name].dtype == object or pd.api.types.is_string_dtype(df[name]):
            try:
                df[name] = pd.to_numeric(df[name])
            except (ValueError, TypeError):
                continue
    return df


def main(argv: list[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        0 on success, 2 on bad input.
    """
    configure_threads_for_cli(sys.argv[1:] if argv is None else argv)  # before torch loads
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()  # no identifier in any log record
    args = _parser().parse_args(argv)
    try:
        try:
            df = read_predictions(args.predictions)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"could not read {args.predictions.name}: {exc}") from exc
        report = build_report(
            df,
            args.truth,
            [s.strip() for s in args.scores.split(",") if s.strip()],
            threshold=args.threshold,
            subgroup=args.subgroup,
            split=args.split,
            n_boot=args.n_boot,
            seed=args.seed,
            level=args.level,
            reader_threshold=args.reader_threshold,
        )
    except InvalidInputError as exc:
        logger.error("%s", exc)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    html_path = args.out / "report.html"
    json_path = args.out / "report.json"
    html_path.write_text(render_html(report), encoding="utf-8")
    json_path.write_text(json.dumps(report.to_dict(), indent=1, allow_nan=False), encoding="utf-8")
    print(html_path)
    print(json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
