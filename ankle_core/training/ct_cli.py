"""``python -m ankle_core.training ct``: train a 3D CNN fracture classifier on CT volumes.

Same design as the radiograph trainers: a folder with ``labels.csv`` in (see
:mod:`ankle_core.training.datasets3d`), a model folder out (``model.safetensors`` in fp16 and
``card.json``, written by :func:`ankle_core.models.save_model`).

- **Splits**: patient-grouped, label-stratified train/validation/test (70/15/15,
  :func:`~ankle_core.training.splits.split_grouped`). With ``--kfold K`` the test part is
  held out the same way and the rest is split into K grouped, stratified folds
  (:func:`~ankle_core.training.splits.group_kfold`); one model per fold, and the fold with
  the best validation AUC is kept (every fold's AUC goes in the card).
- **BatchNorm**: running statistics are re-estimated on up to 64 training cubes before
  each validation (:func:`recalibrate_batchnorm`); without it a short CPU run validates a
  network whose eval-mode outputs are nearly constant.
- **Optimisation**: Adam (lr 5e-4 by default, the study's), cross-entropy over the two
  classes ``("no fracture", "fracture")``, augmentation from
  :func:`~ankle_core.training.datasets3d.ct_augmentation`, early stopping on validation AUC,
  a checkpoint after each epoch (``<out>/checkpoints/fold<i>.pt``, plain tensors read back
  with ``weights_only=True``; removed after success unless ``--keep-checkpoints``),
  ``--resume <out>/checkpoints/fold<i>.pt`` to continue.
- **Thin findings on a small budget** (docs/ct.md): ``--grouped-batches`` keeps each
  ``patient_id``'s volumes in one batch (paired phantoms: with and without the fracture);
  ``--global-pool max`` for the 3D MobileNet; ``--box-loss W`` adds the box-supervised
  auxiliary loss (:mod:`~ankle_core.training.box_supervision`) when ``labels.csv`` has
  fracture boxes.
- **Card**: the exact command, seed, device, epochs, split sizes, test AUC with a 95% CI
  (stratified bootstrap), sensitivity and specificity at the default threshold (Wilson
  CIs) and the operating points chosen on validation data.

Example::

    python -m ankle_core.training ct --data phantoms/ct --out models/ct-fracture-mobilenet3d \\
        --arch ct_mobilenet3d --width-mult 0.5 --input-size 64 --spacing 2.0 --epochs 12
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shlex
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.utils.data import DataLoader

from ankle_core.device import resolve_device
from ankle_core.errors import InvalidInputError
from ankle_core.models.card import SYNTHETIC_DISCLAIMER, ModelCard, OperatingPoints
from ankle_core.models.cnn3d import CT_LABELS
from ankle_core.models.registry import build_network
from ankle_core.models.weights import save_model
from ankle_core.preprocess.intensity import BONE_WINDOW, STUDY_WINDOW
from ankle_core.preprocess.volume import CtPreprocessing
from ankle_core.training.batching import GroupBatchSampler
from ankle_core.training.box_supervision import BoxSupervision
from ankle_core.training.datasets3d import (
    CtCubeDataset,
    load_ct_samples,
    prepare_cubes,
    prepare_cubes_and_masks,
)
from ankle_core.training.evaluate import auc_with_ci, card_ci95, classifier_operating_points
from ankle_core.training.loop import fit
from ankle_core.training.splits import group_kfold, split_grouped

__all__ = [
    "architecture_params",
    "command_line",
    "predict_cubes",
    "recalibrate_batchnorm",
    "register",
    "run",
]

logger = logging.getLogger(__name__)

ARCHITECTURES = ("ct_mobilenet3d", "ct_resnet", "ct_efficientnet")


def register(subparsers: Any) -> None:
    """Add the ``ct`` sub-command to ``python -m ankle_core.training``."""
    p = subparsers.add_parser(
        "ct",
        help="train a 3D CNN fracture classifier on CT volumes",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
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
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--version", default="0.1.0", help="version written in the card")
    p.add_argument("--synthetic", action="store_true", help="data are phantoms (card says so)")
    p.add_argument("--note", default="", help="sentence appended to the card's intended use")
    p.add_argument(
        "--keep-checkpoints", action="store_true", help="keep <out>/checkpoints after success"
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run.

    The exact command line when the dispatcher recorded it (``args.argv``), otherwise every
    option spelled out.
    """
    argv = getattr(args, "argv", None)
    if argv:
        return shlex.join(["python", "-m", "ankle_core.training", *argv])
    parts = ["python", "-m", "ankle_core.training", "ct"]
    for key, value in sorted(vars(args).items()):
        if key in ("func", "command", "verbose", "argv") or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        parts.extend([flag] if value is True else [flag, str(value)])
    return shlex.join(parts)


def architecture_params(args: argparse.Namespace) -> dict[str, Any]:
    """The builder's keyword arguments for ``args.arch``."""
    params: dict[str, Any] = {"num_classes": 2}
    if args.arch == "ct_mobilenet3d":
        params["width_mult"] = float(args.width_mult)
        if args.global_pool != "avg":
            params["global_pool"] = str(args.global_pool)
    elif args.arch == "ct_resnet":
        params["depth"] = int(args.depth)
    else:
        params["variant"] = str(args.variant)
    return params


@torch.no_grad()
def predict_cubes(
    network: nn.Module,
    cubes: npt.NDArray[np.floating],
    indices: Sequence[int] | npt.NDArray[np.integer],
    device: torch.device,
    batch_size: int = 8,
) -> npt.NDArray[np.float64]:
    """Fracture probabilities (softmax of logit 1) for ``cubes[indices]``, in order."""
    network.eval()
    out: list[float] = []
    idx = list(indices)
    for start in range(0, len(idx), batch_size):
        rows = idx[start : start + batch_size]
        x = torch.from_numpy(np.asarray(cubes[rows], dtype=np.float32))[:, None].to(device)
        out.extend(torch.softmax(network(x), dim=1)[:, 1].cpu().tolist())
    return np.asarray(out, dtype=np.float64)


@torch.no_grad()
def recalibrate_batchnorm(
    network: nn.Module,
    cubes: npt.NDArray[np.floating],
    indices: Sequence[int] | npt.NDArray[np.integer],
    device: torch.device,
    batch_size: int = 8,
    max_samples: int = 64,
) -> None:
    """Re-estimate BatchNorm running statistics on training cubes ("precise BN").

    With a few hundred steps the running averages (momentum 0.1, starting at variance 1)
    still lag far behind the batch statistics, and an eval-mode network then gives nearly
    constant outputs. Resetting them and averaging over up to ``max_samples`` un-augmented
    training cubes (cumulative average, Wu & Johnson 2021) fixes that before validation.
    """
    norms = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    network.train()
    rows = list(indices)[:max_samples]
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        if len(chunk) < 2:
            break
        x = torch.from_numpy(np.asarray(cubes[chunk], dtype=np.float32))[:, None].to(device)
        network(x)
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
    network.eval()


def _auc(y: npt.NDArray[np.int64], p: npt.NDArray[np.float64]) -> float:
    if len(set(y.tolist())) < 2:
        return float("nan")
    from ankle_core.stats.roc import auc_score

    return float(auc_score(y, p))


def _train_fold(
    args: argparse.Namespace,
    fold: int,
    cubes: npt.NDArray[np.float16],
    labels: npt.NDArray[np.int64],
    groups: Sequence[str],
    train_idx: npt.NDArray[np.int64],
    val_idx: npt.NDArray[np.int64],
    device: torch.device,
    card_stub: ModelCard,
    masks: npt.NDArray[np.bool_] | None = None,
) -> tuple[nn.Module, float, dict[str, Any]]:
    torch.manual_seed(args.seed + fold)
    network = build_network(card_stub).to(device)
    box_weight = float(args.box_loss) if masks is not None else 0.0
    aux = BoxSupervision(network, int(args.input_size)).to(device) if box_weight > 0 else None
    params = list(network.parameters()) + (list(aux.parameters()) if aux is not None else [])
    optimizer = torch.optim.Adam(params, lr=args.lr)
    train_ds = CtCubeDataset(
        cubes,
        labels,
        train_idx,
        augment=True,
        seed=args.seed + fold,
        max_rotation_deg=args.max_rotation,
        masks=masks if aux is not None else None,
    )
    loss_fn = nn.CrossEntropyLoss()

    grouped = (
        GroupBatchSampler([groups[i] for i in train_idx], args.batch_size, seed=args.seed + fold)
        if args.grouped_batches
        else None
    )

    def batches(epoch: int) -> DataLoader[tuple[Any, ...]]:
        train_ds.transform.set_random_state(seed=args.seed + 7919 * epoch + fold)  # type: ignore[union-attr]
        if grouped is not None:
            grouped.set_epoch(epoch)
            return DataLoader(train_ds, batch_sampler=grouped)
        gen = torch.Generator().manual_seed(args.seed * 1000 + fold * 100 + epoch)
        return DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, generator=gen)

    def step(batch: Sequence[torch.Tensor]) -> float:
        x, y = batch[0].to(device), batch[1].to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(network(x), y)
        if aux is not None:
            m = batch[2].to(device)
            use = (y == 0) | m.flatten(1).any(dim=1)
            loss = loss + box_weight * aux.loss(m, use)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def validate() -> dict[str, float]:
        recalibrate_batchnorm(network, cubes, train_idx, device, args.batch_size)
        p = predict_cubes(network, cubes, val_idx, device, args.batch_size)
        auc = _auc(labels[val_idx], p)
        return {"val_auc": auc if np.isfinite(auc) else 0.5}

    ckpt_dir = args.out / "checkpoints"
    ckpt = ckpt_dir / f"fold{fold}.pt"
    resume = (
        args.resume if args.resume is not None and Path(args.resume).name == ckpt.name else None
    )
    steps = (
        len(grouped)
        if grouped is not None
        else (len(train_idx) + args.batch_size - 1) // args.batch_size
    )
    # The auxiliary head's forward hook lives exactly as long as the training of this fold.
    with aux if aux is not None else contextlib.nullcontext():
        result = fit(
            network,
            optimizer,
            batches=batches,
            step=step,
            validate=validate,
            monitor="val_auc",
            epochs=args.epochs,
            patience=args.patience,
            checkpoint=ckpt,
            resume=resume,
            progress=not args.no_progress,
            steps_per_epoch=steps,
        )
    info = {
        "fold": fold,
        "best_epoch": result.best_epoch + 1,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "val_auc": round(result.best_score, 4),
        "n_train": len(train_idx),
        "n_val": len(val_idx),
        "history": [{k: round(v, 4) for k, v in h.items()} for h in result.history],
    }
    if aux is not None:
        info["box_loss_block"] = aux.layer_name
    return network, float(result.best_score), info


def _folds(
    labels: npt.NDArray[np.int64], groups: list[str], args: argparse.Namespace
) -> tuple[list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]], npt.NDArray[np.int64]]:
    if args.kfold and args.kfold >= 2:
        outer = split_grouped(labels.tolist(), groups, fractions=(0.85, 0.0, 0.15), seed=args.seed)
        dev = np.sort(np.concatenate([outer.train, outer.val]))
        inner = group_kfold(
            labels[dev].tolist(), [groups[i] for i in dev], k=args.kfold, seed=args.seed
        )
        return [(dev[tr], dev[va]) for tr, va in inner], outer.test
    split = split_grouped(labels.tolist(), groups, seed=args.seed)
    return [(split.train, split.val)], split.test


def _test_metrics(
    y: npt.NDArray[np.int64], p: npt.NDArray[np.float64], threshold: float, seed: int
) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    try:
        metrics["auc"] = auc_with_ci(y, p, seed=seed)
    except InvalidInputError as exc:  # too few cases of a class for a CI
        metrics["auc"] = {"value": None, "note": str(exc), "n": int(y.size)}
    calls = p >= threshold
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    tp, tn = int((calls & (y == 1)).sum()), int((~calls & (y == 0)).sum())
    for name, k, n in (("sensitivity", tp, pos), ("specificity", tn, neg)):
        metrics[name] = {
            "value": round(k / n, 4) if n else None,
            "ci95": card_ci95(k, n),
            "method": f"Wilson score interval, threshold {threshold:.4f}",
            "n": n,
        }
    metrics["accuracy"] = {"value": round(float((calls == (y == 1)).mean()), 4), "n": int(y.size)}
    return metrics


def run(args: argparse.Namespace) -> int:
    """Train, evaluate on the held-out test split and write the model folder.

    Returns:
        The process exit status (0 on success).
    """
    started = time.perf_counter()
    if args.threads:
        torch.set_num_threads(int(args.threads))
    device = resolve_device(args.device)
    window = BONE_WINDOW if args.window == "bone" else STUDY_WINDOW
    prep = CtPreprocessing(spacing_mm=args.spacing, input_size=args.input_size, window=window)
    samples = load_ct_samples(args.data)
    labels = np.asarray([s.label for s in samples], dtype=np.int64)
    groups = [s.group for s in samples]
    logger.info("%d volumes (%d with a fracture)", len(samples), int(labels.sum()))
    masks: npt.NDArray[np.bool_] | None = None
    if args.box_loss > 0:
        if not any(s.box is not None for s in samples):
            raise InvalidInputError(
                "--box-loss needs fracture boxes: labels.csv has no z0 y0 x0 z1 y1 x1 values."
            )
        cubes, masks = prepare_cubes_and_masks(samples, prep, progress=not args.no_progress)
    else:
        cubes = prepare_cubes(samples, prep, progress=not args.no_progress)
    folds, test_idx = _folds(labels, groups, args)
    size = int(args.input_size)
    stub = ModelCard(
        name=args.out.name,
        version=args.version,
        architecture=args.arch,
        task="ct-fracture",
        spatial_dims=3,
        labels=CT_LABELS,
        input_size=(size, size, size),
        preprocessing=prep.to_dict(),
        architecture_params=architecture_params(args),
    )
    best: tuple[nn.Module, float, npt.NDArray[np.int64]] | None = None
    fold_info = []
    for fold, (train_idx, val_idx) in enumerate(folds):
        network, score, info = _train_fold(
            args, fold, cubes, labels, groups, train_idx, val_idx, device, stub, masks
        )
        fold_info.append(info)
        if best is None or score > best[1]:
            best = (network, score, val_idx)
    assert best is not None
    network, _, val_idx = best
    p_val = predict_cubes(network, cubes, val_idx, device, args.batch_size)
    try:
        ops = classifier_operating_points(
            labels[val_idx], p_val, chosen_on=f"validation split (n={len(val_idx)})"
        )
    except InvalidInputError as exc:
        logger.warning("operating points left at 0.5: %s", exc)
        ops = OperatingPoints(chosen_on="fixed 0.5 (validation split too small)")
    p_test = predict_cubes(network, cubes, test_idx, device, args.batch_size)
    metrics = {"test": _test_metrics(labels[test_idx], p_test, ops.default, args.seed)}
    intended = (
        SYNTHETIC_DISCLAIMER
        if args.synthetic
        else ("Research use on the data it was trained on; validate on local data before any use.")
    )
    if args.note:
        intended = f"{intended} {args.note}"
    training = {
        "data": "synthetic CT phantoms (ankle_core.phantoms.ct)" if args.synthetic else "site data",
        "data_dir": args.data.name,
        "command": command_line(args),
        "seed": args.seed,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "optimizer": f"Adam lr {args.lr}",
        "loss": "cross-entropy, 2 classes",
        "batch_size": args.batch_size,
        "box_loss": {
            "weight": float(args.box_loss),
            "what": "BCE (pos_weight 10) of a training-only 1x1x1 head on the Grad-CAM block "
            "predicting cells overlapping the labels.csv fracture box",
            "n_boxes": sum(s.box is not None for s in samples),
        }
        if masks is not None
        else None,
        "batches": "whole patient groups per batch (GroupBatchSampler)"
        if args.grouped_batches
        else "shuffled volumes",
        "max_epochs": args.epochs,
        "patience": args.patience,
        "augmentation": f"LR flip p0.5; rotation <={args.max_rotation:g} "
        "deg/axis p0.5; intensity scale 10%, shift 0.05 p0.5; Gaussian noise sd 0.01 p0.3 "
        "(MONAI)",
        "splits": {
            "method": f"grouped stratified, {args.kfold}-fold"
            if args.kfold >= 2
            else "grouped stratified 70/15/15",
            "n_total": len(samples),
            "n_test": len(test_idx),
            "n_positive": int(labels.sum()),
        },
        "folds": fold_info,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    card = ModelCard(
        **{
            **{k: getattr(stub, k) for k in ("name", "version", "architecture", "task")},
            "spatial_dims": 3,
            "labels": CT_LABELS,
            "input_size": stub.input_size,
            "preprocessing": stub.preprocessing,
            "architecture_params": stub.architecture_params,
            "operating_points": ops,
            "training": training,
            "metrics": metrics,
            "intended_use": intended,
        }
    )
    written = save_model(network.cpu(), card, args.out, half=True)
    if not args.keep_checkpoints:
        shutil.rmtree(args.out / "checkpoints", ignore_errors=True)
    print(json.dumps({"out": str(args.out), "metrics": written.metrics}, indent=2))
    return 0
