"""Command line of the CT recipe: ``python -m ankle_core.training ct``.

This module only parses: the flags become a frozen
:class:`~ankle_core.training.ct.CtTrainConfig` (field = flag) handed to
:func:`~ankle_core.training.ct.train_ct`, which writes the model folder and returns its
card; the card's metrics are printed as JSON. The recipe is described in
:mod:`ankle_core.training.ct`.

Example::

    python -m ankle_core.training ct --data phantoms/ct --out models/ct-fracture-mobilenet3d \\
        --arch ct_mobilenet3d --width-mult 0.5 --input-size 64 --spacing 2.0 --epochs 12
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
from pathlib import Path
from typing import Any

from ankle_core.errors import InvalidInputError
from ankle_core.training.ct import ARCHITECTURES, CtTrainConfig, train_ct
from ankle_core.training.recipe import run_recipe

__all__ = ["ct_config", "register", "run"]

_DESCRIPTION = "Train a 3D CNN fracture classifier on CT volumes; writes a model folder."


def register(subparsers: Any) -> None:
    """Add the ``ct`` sub-command to ``python -m ankle_core.training``."""
    p = subparsers.add_parser(
        "ct",
        help="train a 3D CNN fracture classifier on CT volumes",
        description=_DESCRIPTION,
    )
    p.add_argument("--data", required=True, type=Path, help="folder with labels.csv")
    p.add_argument("--out", required=True, type=Path, help="model folder to write")
    p.add_argument("--arch", default="ct_mobilenet3d", choices=ARCHITECTURES)
    p.add_argument("--width-mult", type=float, default=1.0, help="MobileNet width")
    p.add_argument(
        "--global-pool",
        choices=("avg", "max"),
        default="avg",
        help="MobileNet global pooling; max suits small findings (default avg)",
    )
    p.add_argument("--depth", type=int, default=18, help="ResNet depth: 18, 34, 50, 101")
    p.add_argument("--variant", default="b0", help="EfficientNet variant: b0 ... b7")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--patience", type=int, default=5, help="early-stopping patience, epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kfold", type=int, default=0, help="K >= 2 for K-fold training")
    p.add_argument(
        "--box-loss",
        type=float,
        default=0.0,
        help="weight of the box-supervised auxiliary loss on the Grad-CAM block (needs "
        "z0..x1 box columns in labels.csv; 0 = off)",
    )
    p.add_argument(
        "--grouped-batches",
        action="store_true",
        help="keep each patient_id's volumes in one batch (paired phantoms: with and without "
        "the fracture side by side)",
    )
    p.add_argument("--resume", type=Path, default=None, help="checkpoint to continue from")
    p.add_argument("--input-size", type=int, default=128, help="input cube edge, voxels")
    p.add_argument(
        "--max-rotation",
        type=float,
        default=10.0,
        help="largest augmentation rotation about each axis, degrees (default 10)",
    )
    p.add_argument("--spacing", type=float, default=1.0, help="isotropic spacing, mm")
    p.add_argument("--window", choices=("study", "bone"), default="study")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--devices", type=int, default=1, help="data-parallel workers (Ray Train)")
    p.add_argument(
        "--loader-workers", type=int, default=0, help="DataLoader worker processes (0: here)"
    )
    p.add_argument(
        "--cube-cache",
        type=Path,
        default=None,
        help="folder of preprocessed cubes (.npy per case, memory-mapped; default: in memory)",
    )
    p.add_argument("--amp", action="store_true", help="mixed precision on CUDA")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels")
    p.add_argument("--version", default="0.1.0", help="version written in the card")
    p.add_argument("--synthetic", action="store_true", help="data are phantoms (card says so)")
    p.add_argument("--note", default="", help="sentence appended to the card's intended use")
    p.add_argument(
        "--keep-checkpoints", action="store_true", help="keep <out>/checkpoints after success"
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def ct_config(args: argparse.Namespace) -> CtTrainConfig:
    """The ``ct`` command's flags as the recipe's config.

    The exact command line is recorded when the dispatcher kept it (``args.argv``);
    otherwise the recipe spells every option out.
    """
    argv = getattr(args, "argv", None)
    command = shlex.join(["python", "-m", "ankle_core.training", *argv]) if argv else None
    names = {f.name for f in dataclasses.fields(CtTrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    return CtTrainConfig(**{**values, "progress": not args.no_progress, "command": command})


def run(args: argparse.Namespace) -> int:
    """Train from parsed flags and print the written card's metrics; the exit status."""
    config = ct_config(args)
    if config.devices > 1 and config.box_loss > 0:  # refused here, before workers start
        raise InvalidInputError("--box-loss cannot be combined with --devices > 1.")
    card = run_recipe(train_ct, config)
    print(json.dumps({"out": str(args.out), "metrics": card.metrics}, indent=2))
    return 0
