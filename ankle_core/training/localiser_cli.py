"""``python -m ankle_core.training localiser``: train the FracAtlas fracture heat-map localiser."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from ankle_core.errors import InvalidInputError

__all__ = ["register", "run_localiser"]

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``localiser`` subcommand."""
    p = subparsers.add_parser("localiser", help="train the FracAtlas fracture heat-map localiser")
    p.add_argument("--out", required=True, help="run folder (checkpoints, history.json)")
    p.add_argument("--cache-dir", default="runs/cache", help="cached frozen maps (git-ignored)")
    p.add_argument("--fracatlas", default=None, help="fracatlas-leg folder (default: shared data)")
    p.add_argument(
        "--extra", default="auto", help="extremity fracture-box folder, 'auto' or 'none'"
    )
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-backbone", type=float, default=2e-4)
    p.add_argument("--negatives-per-epoch", type=int, default=500)
    p.add_argument("--extra-per-epoch", type=int, default=250)
    p.add_argument("--side", type=int, default=384)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit-min", type=float, default=0.0)
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")
    p.set_defaults(func=run_localiser)


def run_localiser(args: argparse.Namespace) -> int:
    """Build the configuration from the arguments and train."""
    from ankle_core.realdata.fracatlas import FRACATLAS
    from ankle_core.realdata.sources import FRACTURE_BOXES, find_real_data
    from ankle_core.training.heatmap_localiser import (
        HeatmapTrainConfig,
        fracatlas_samples,
        train_heatmap_localiser,
    )

    root = Path(args.fracatlas) if args.fracatlas else find_real_data(FRACATLAS)
    if root is None:
        raise InvalidInputError("FracAtlas (fracatlas-leg) was not found; pass --fracatlas.")
    extra: Path | None = None
    if args.extra == "auto":
        extra = find_real_data(FRACTURE_BOXES)
    elif args.extra != "none":
        extra = Path(args.extra)
    cfg = HeatmapTrainConfig(
        out=args.out,
        cache_dir=args.cache_dir,
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
        lr_backbone=args.lr_backbone,
        negatives_per_epoch=args.negatives_per_epoch,
        extra_per_epoch=args.extra_per_epoch if extra is not None else 0,
        side=args.side,
        threads=args.threads,
        seed=args.seed,
        time_limit_min=args.time_limit_min,
    )
    train, val, extra_val, record = fracatlas_samples(root, extra)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "split.json").write_text(json.dumps({**record, "argv": args.argv}, indent=1))
    result = train_heatmap_localiser(cfg, train, val, resume=args.resume)
    logger.info("best epoch %s", result["best"].get("epoch"))
    return 0
