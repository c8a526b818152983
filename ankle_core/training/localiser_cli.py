"""``python -m ankle_core.training localiser``: train the FracAtlas fracture heat-map localiser."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ankle_core.errors import InvalidInputError

if TYPE_CHECKING:
    from ankle_core.training.heatmap_localiser import HeatmapTrainConfig

__all__ = ["register", "register_export", "run_export", "run_localiser"]

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
    p.add_argument(
        "--variants",
        type=int,
        default=0,
        help="cached augmented copies of each FracAtlas training image (rotation, zoom, shift, "
        "contrast); an epoch shows each drawn image as one of its versions",
    )
    p.add_argument(
        "--frozen-blocks",
        type=int,
        choices=(7, 14),
        default=14,
        help="MobileNetV2 blocks kept frozen: 14 trains on the cached maps; 7 trains blocks "
        "7-13 too, on images augmented afresh at every step (about 1.3x the machine time per "
        "epoch; see docs/real-data.md for what it gained and lost)",
    )
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")
    p.set_defaults(func=run_localiser)


def run_localiser(args: argparse.Namespace) -> int:
    """Build the configuration from the arguments and train."""
    from ankle_core.realdata.fracatlas import FRACATLAS
    from ankle_core.realdata.sources import FRACTURE_BOXES, find_real_data
    from ankle_core.training.heatmap_localiser import fracatlas_samples, train_heatmap_localiser

    root = Path(args.fracatlas) if args.fracatlas else find_real_data(FRACATLAS)
    if root is None:
        raise InvalidInputError("FracAtlas (fracatlas-leg) was not found; pass --fracatlas.")
    extra: Path | None = None
    if args.extra == "auto":
        extra = find_real_data(FRACTURE_BOXES)
    elif args.extra != "none":
        extra = Path(args.extra)
    try:
        cfg = _train_config(args, extra)
    except ValueError as exc:  # an impossible combination of options
        raise InvalidInputError(str(exc)) from exc
    train, val, _, record = fracatlas_samples(root, extra)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "split.json").write_text(json.dumps({**record, "argv": args.argv}, indent=1))
    result = train_heatmap_localiser(cfg, train, val, resume=args.resume)
    logger.info("best epoch %s", result["best"].get("epoch"))
    return 0


def _train_config(args: argparse.Namespace, extra: Path | None) -> HeatmapTrainConfig:
    """The run's :class:`~ankle_core.training.heatmap_localiser.HeatmapTrainConfig`."""
    from ankle_core.training.heatmap_localiser import HeatmapTrainConfig as Config

    return Config(
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
        variants=args.variants,
        frozen_blocks=args.frozen_blocks,
    )


def register_export(subparsers: Any) -> None:
    """Add the ``localiser-export`` subcommand (model folder + validated card from a run)."""
    p = subparsers.add_parser(
        "localiser-export", help="write the localiser's model folder and validated card"
    )
    p.add_argument("--run", required=True, help="run folder written by 'localiser'")
    p.add_argument("--out", required=True, help="model folder, e.g. models/fracatlas-leg-localiser")
    p.add_argument("--checkpoint", default="best.pt")
    p.add_argument(
        "--member-run",
        action="append",
        default=[],
        help="a further run (another seed) added as an ensemble member; repeat for more",
    )
    p.add_argument(
        "--score-run",
        action="append",
        default=[],
        help="a run that joins the image score only (a score member), not the boxes; "
        "repeat for more",
    )
    p.add_argument(
        "--score-checkpoint", default="last.pt", help="checkpoint file of every --score-run"
    )
    p.add_argument("--name", default="fracatlas-leg-localiser")
    p.add_argument("--version", default="1.0.0")
    p.add_argument(
        "--training-notes",
        default=None,
        help="JSON file of entries added to the card's training section",
    )
    p.add_argument("--fracatlas", default=None)
    p.add_argument("--extra", default="auto")
    p.add_argument(
        "--min-extremity-auc",
        type=float,
        default=0.85,
        help="image-score rules below this AUC on the extremity validation images are not "
        "chosen (issue 21: the extremity set must not get worse than 0.85)",
    )
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Export and validate; prints the headline figures."""
    import torch

    from ankle_core.realdata.fracatlas import FRACATLAS
    from ankle_core.realdata.sources import FRACTURE_BOXES, find_real_data
    from ankle_core.training.heatmap_localiser import export_heatmap_model

    torch.set_num_threads(args.threads)
    root = Path(args.fracatlas) if args.fracatlas else find_real_data(FRACATLAS)
    if root is None:
        raise InvalidInputError("FracAtlas (fracatlas-leg) was not found; pass --fracatlas.")
    extra = find_real_data(FRACTURE_BOXES) if args.extra == "auto" else None
    if args.extra not in ("auto", "none"):
        extra = Path(args.extra)
    notes = json.loads(Path(args.training_notes).read_text()) if args.training_notes else None
    metrics = export_heatmap_model(
        args.run,
        args.out,
        root,
        extra,
        name=args.name,
        version=args.version,
        checkpoint=args.checkpoint,
        n_boot=args.n_boot,
        member_runs=args.member_run,
        training_notes=notes,
        min_extra_auc=args.min_extremity_auc,
        score_runs=args.score_run,
        score_checkpoint=args.score_checkpoint,
    )
    val = metrics["val"]
    for key in ("image_auc_delong", "ap50", "ap30", "found_top5_iou03", "recall_at_1fp_iou03"):
        if key in val:
            print(f"{key}: {val[key]['value']} {val[key]['ci95']}")
    if "extremity_valid" in metrics:
        print(f"extremity image AUC: {metrics['extremity_valid']['image_auc']['value']}")
    return 0
