"""Recipe: train a 3D CNN fracture classifier on CT volumes (config in, card out).

Same design as the radiograph recipes: a frozen :class:`CtTrainConfig` in (its ``data`` a
folder with ``labels.csv``, see :mod:`ankle_core.training.datasets3d`); :func:`train_ct`
writes the model folder (``model.safetensors`` in fp16 and ``card.json``, by
:func:`ankle_core.models.save_model`) and returns its card. ``python -m ankle_core.training
ct`` only parses its flags into the config (:mod:`ankle_core.training.ct_cli`).

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

import contextlib
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.utils.data import DataLoader

from ankle_core.errors import InvalidInputError
from ankle_core.models.card import SYNTHETIC_DISCLAIMER, ModelCard, ModelTask, OperatingPoints
from ankle_core.models.cnn3d import CT_LABELS
from ankle_core.models.registry import build_network
from ankle_core.models.weights import save_model
from ankle_core.preprocess.intensity import BONE_WINDOW, STUDY_WINDOW
from ankle_core.preprocess.volume import CtPreprocessing
from ankle_core.training.batching import GroupBatchSampler
from ankle_core.training.box_supervision import BoxSupervision
from ankle_core.training.datasets3d import (
    CtCubeDataset,
    Cubes,
    load_ct_samples,
    prepare_cubes,
    prepare_cubes_and_masks,
)
from ankle_core.training.distributed import is_main_process, prepare_model, world_size
from ankle_core.training.evaluate import auc_with_ci, card_ci95, classifier_operating_points
from ankle_core.training.loaders import (
    EpochKeys,
    ShuffledBatches,
    distributed_batches,
    make_loader,
)
from ankle_core.training.loop import fit
from ankle_core.training.recipe import command_line, setup
from ankle_core.training.splits import group_kfold, split_grouped

__all__ = [
    "ARCHITECTURES",
    "CtTrainConfig",
    "architecture_params",
    "predict_cubes",
    "recalibrate_batchnorm",
    "split_folds",
    "train_ct",
]

logger = logging.getLogger(__name__)

ARCHITECTURES = ("ct_mobilenet3d", "ct_resnet", "ct_efficientnet")


@dataclass(frozen=True)
class CtTrainConfig:
    """The CT recipe's options (``--flag`` of ``python -m ankle_core.training ct`` = field).

    Attributes:
        data: Folder with ``labels.csv`` (:mod:`ankle_core.training.datasets3d`).
        out: Model folder to write.
        arch: One of :data:`ARCHITECTURES`.
        width_mult: MobileNet width.
        global_pool: MobileNet global pooling, ``avg`` or ``max`` (max suits small findings).
        depth: ResNet depth: 18, 34, 50, 101.
        variant: EfficientNet variant: b0 ... b7.
        epochs: Most epochs.
        batch_size: Volumes per step.
        lr: Adam learning rate.
        patience: Early-stopping patience, epochs.
        seed: Seed of the split, initialisation, augmentation and batch order.
        kfold: K >= 2 for K-fold training (the best fold's model is kept).
        box_loss: Weight of the box-supervised auxiliary loss (0 = off; needs boxes).
        grouped_batches: Keep each ``patient_id``'s volumes in one batch.
        resume: Checkpoint to continue from (``<out>/checkpoints/fold<i>.pt``).
        input_size: Input cube edge, voxels.
        max_rotation: Largest augmentation rotation about each axis, degrees.
        spacing: Isotropic resampling spacing, mm.
        window: ``study`` or ``bone`` intensity window.
        device: ``auto`` (CUDA, else ``mps``, else CPU), ``cpu``, ``cuda`` or ``mps``; under
            torchrun or Ray Train, ``cuda`` is this rank's GPU (``LOCAL_RANK``).
        threads: Torch CPU threads (0: torch's default).
        devices: Data-parallel workers (DDP through Ray Train, see
            :func:`~ankle_core.training.recipe.run_recipe`; 1: this process only).
        amp: Mixed precision on CUDA (autocast + GradScaler); ignored elsewhere.
        deterministic: Seed Python, numpy and torch and ask torch for deterministic kernels.
        loader_workers: ``DataLoader`` worker processes preparing training batches (0: in
            this process, the results of runs before the loaders existed).
        cube_cache: Folder of preprocessed cubes, one ``.npy`` per case and preprocessing,
            memory-mapped when read (None: every cube in memory).
        version: Version written in the card.
        synthetic: The data are phantoms (the card says so).
        note: Sentence appended to the card's intended use.
        keep_checkpoints: Keep ``<out>/checkpoints`` after success.
        progress: Show progress bars.
        command: The command line recorded in the card (None: spelled out from the fields).
    """

    data: Path
    out: Path
    arch: str = "ct_mobilenet3d"
    width_mult: float = 1.0
    global_pool: Literal["avg", "max"] = "avg"
    depth: int = 18
    variant: str = "b0"
    epochs: int = 20
    batch_size: int = 8
    lr: float = 5e-4
    patience: int = 5
    seed: int = 0
    kfold: int = 0
    box_loss: float = 0.0
    grouped_batches: bool = False
    resume: Path | None = None
    input_size: int = 128
    max_rotation: float = 10.0
    spacing: float = 1.0
    window: Literal["study", "bone"] = "study"
    device: str = "auto"
    threads: int = 0
    devices: int = 1
    amp: bool = False
    deterministic: bool = False
    loader_workers: int = 0
    cube_cache: Path | None = None
    version: str = "0.1.0"
    synthetic: bool = False
    note: str = ""
    keep_checkpoints: bool = False
    progress: bool = True
    command: str | None = None


def architecture_params(config: CtTrainConfig) -> dict[str, Any]:
    """The builder's keyword arguments for ``config.arch``."""
    params: dict[str, Any] = {"num_classes": 2}
    if config.arch == "ct_mobilenet3d":
        params["width_mult"] = float(config.width_mult)
        if config.global_pool != "avg":
            params["global_pool"] = str(config.global_pool)
    elif config.arch == "ct_resnet":
        params["depth"] = int(config.depth)
    else:
        params["variant"] = str(config.variant)
    return params


@torch.no_grad()
def predict_cubes(
    network: nn.Module,
    cubes: Cubes,
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
    cubes: Cubes,
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
    config: CtTrainConfig,
    fold: int,
    cubes: Cubes,
    labels: npt.NDArray[np.int64],
    groups: Sequence[str],
    train_idx: npt.NDArray[np.int64],
    val_idx: npt.NDArray[np.int64],
    device: torch.device,
    card_stub: ModelCard,
    masks: Cubes | None = None,
) -> tuple[nn.Module, float, dict[str, Any]]:
    torch.manual_seed(config.seed + fold)
    network = build_network(card_stub).to(device)
    box_weight = float(config.box_loss) if masks is not None else 0.0
    aux = BoxSupervision(network, int(config.input_size)).to(device) if box_weight > 0 else None
    model = prepare_model(network, device)  # DDP under torchrun / Ray Train (--devices N)
    params = list(model.parameters()) + (list(aux.parameters()) if aux is not None else [])
    optimizer = torch.optim.Adam(params, lr=config.lr)
    amp = bool(config.amp) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    workers = int(config.loader_workers)
    train_ds = CtCubeDataset(
        cubes,
        labels,
        train_idx,
        augment=True,
        seed=config.seed + fold,
        max_rotation_deg=config.max_rotation,
        masks=masks if aux is not None else None,
        item_seeds=workers > 0,
    )
    loss_fn = nn.CrossEntropyLoss()
    order: Any
    if config.grouped_batches:  # whole patient groups; under DDP every N-th batch per rank
        order = GroupBatchSampler(
            [groups[i] for i in train_idx], config.batch_size, seed=config.seed + fold
        )
    elif world_size() > 1:  # torch's DistributedSampler: this rank's share of each epoch
        order = distributed_batches(len(train_idx), config.batch_size, seed=config.seed + fold)
    else:
        order = ShuffledBatches(
            len(train_idx), config.batch_size, seed=config.seed * 1000 + fold * 100
        )
    keyed = EpochKeys(order)
    # (a fresh DataLoader per epoch, as grouped batches had, drew from the global stream)
    loader = make_loader(
        train_ds, keyed, workers=workers, device=device, global_rng=config.grouped_batches
    )

    def batches(epoch: int) -> DataLoader[tuple[Any, ...]]:
        train_ds.transform.set_random_state(seed=config.seed + 7919 * epoch + fold)  # type: ignore[union-attr]
        keyed.set_epoch(epoch)
        return loader

    def step(batch: Sequence[torch.Tensor]) -> torch.Tensor:
        x = batch[0].to(device, non_blocking=True)
        y = batch[1].to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, enabled=amp):
            loss: torch.Tensor = loss_fn(model(x).float(), y)
            if aux is not None:
                m = batch[2].to(device, non_blocking=True)
                use = (y == 0) | m.flatten(1).any(dim=1)
                loss = loss + box_weight * aux.loss(m, use)
        scaled: Any = scaler.scale(loss)
        scaled.backward()
        scaler.step(optimizer)
        scaler.update()
        return loss.detach()  # summed on the device by fit, read once per epoch

    def validate() -> dict[str, float]:
        recalibrate_batchnorm(network, cubes, train_idx, device, config.batch_size)
        p = predict_cubes(network, cubes, val_idx, device, config.batch_size)
        auc = _auc(labels[val_idx], p)
        return {"val_auc": auc if np.isfinite(auc) else 0.5}

    ckpt_dir = Path(config.out) / "checkpoints"
    ckpt = ckpt_dir / f"fold{fold}.pt"
    resume = (
        config.resume
        if config.resume is not None and Path(config.resume).name == ckpt.name
        else None
    )
    steps = len(keyed)
    # The auxiliary head's forward hook lives exactly as long as the training of this fold.
    with aux if aux is not None else contextlib.nullcontext():
        result = fit(
            model,
            optimizer,
            batches=batches,
            step=step,
            validate=validate,
            monitor="val_auc",
            epochs=config.epochs,
            patience=config.patience,
            checkpoint=ckpt,
            resume=resume,
            progress=config.progress,
            steps_per_epoch=steps,
            per_rank=True,  # the samplers draw this rank's share
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


def split_folds(
    labels: npt.NDArray[np.int64], groups: list[str], kfold: int, seed: int
) -> tuple[list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]], npt.NDArray[np.int64]]:
    """Grouped, stratified (train, validation) folds and the held-out test indices.

    Args:
        labels: Shape (N,), 0/1 labels.
        groups: N patient ids (a patient never straddles two parts).
        kfold: K >= 2 for K folds over the non-test 85%; otherwise one 70/15/15 split.
        seed: Split seed.

    Returns:
        ``([(train, val), ...], test)`` index arrays.
    """
    if kfold and kfold >= 2:
        outer = split_grouped(labels.tolist(), groups, fractions=(0.85, 0.0, 0.15), seed=seed)
        dev = np.sort(np.concatenate([outer.train, outer.val]))
        inner = group_kfold(labels[dev].tolist(), [groups[i] for i in dev], k=kfold, seed=seed)
        return [(dev[tr], dev[va]) for tr, va in inner], outer.test
    split = split_grouped(labels.tolist(), groups, seed=seed)
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


def _intended_use(config: CtTrainConfig) -> str:
    intended = (
        SYNTHETIC_DISCLAIMER
        if config.synthetic
        else "Research use on the data it was trained on; validate on local data before any use."
    )
    return f"{intended} {config.note}" if config.note else intended


def _training_record(
    config: CtTrainConfig,
    device: torch.device,
    samples: Sequence[Any],
    labels: npt.NDArray[np.int64],
    n_test: int,
    fold_info: list[dict[str, Any]],
    with_masks: bool,
) -> dict[str, Any]:
    """The card's ``training`` section (without the wall time)."""
    return {
        "data": "synthetic CT phantoms (ankle_core.phantoms.ct)"
        if config.synthetic
        else "site data",
        "data_dir": Path(config.data).name,
        "command": command_line("ct", config),
        "seed": config.seed,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "optimizer": f"Adam lr {config.lr}",
        "loss": "cross-entropy, 2 classes",
        "batch_size": config.batch_size,
        "data_parallel_workers": world_size(),
        "loader_workers": int(config.loader_workers),
        "cubes": "memory-mapped .npy cache" if config.cube_cache else "in memory",
        "amp": bool(config.amp and device.type == "cuda"),
        "deterministic": bool(config.deterministic),
        "box_loss": {
            "weight": float(config.box_loss),
            "what": "BCE (pos_weight 10) of a training-only 1x1x1 head on the Grad-CAM block "
            "predicting cells overlapping the labels.csv fracture box",
            "n_boxes": sum(s.box is not None for s in samples),
        }
        if with_masks
        else None,
        "batches": "whole patient groups per batch (GroupBatchSampler)"
        if config.grouped_batches
        else "shuffled volumes",
        "max_epochs": config.epochs,
        "patience": config.patience,
        "augmentation": f"LR flip p0.5; rotation <={config.max_rotation:g} "
        "deg/axis p0.5; intensity scale 10%, shift 0.05 p0.5; Gaussian noise sd 0.01 p0.3 "
        "(MONAI)",
        "splits": {
            "method": f"grouped stratified, {config.kfold}-fold"
            if config.kfold >= 2
            else "grouped stratified 70/15/15",
            "n_total": len(samples),
            "n_test": n_test,
            "n_positive": int(labels.sum()),
        },
        "folds": fold_info,
    }


def train_ct(config: CtTrainConfig) -> ModelCard:
    """Train, evaluate on the held-out test split and write the model folder.

    Args:
        config: The recipe's options.

    Returns:
        The card written to ``<config.out>/card.json``.
    """
    started = time.perf_counter()
    if config.box_loss > 0 and world_size() > 1:
        raise InvalidInputError(
            "--box-loss trains an auxiliary head outside the network, which data-parallel "
            "training does not synchronise: use it with --devices 1."
        )
    device = setup(config)  # seeds, threads, deterministic kernels, this rank's device
    window = BONE_WINDOW if config.window == "bone" else STUDY_WINDOW
    prep = CtPreprocessing(spacing_mm=config.spacing, input_size=config.input_size, window=window)
    samples = load_ct_samples(config.data)
    labels = np.asarray([s.label for s in samples], dtype=np.int64)
    groups = [s.group for s in samples]
    logger.info("%d volumes (%d with a fracture)", len(samples), int(labels.sum()))
    masks: Cubes | None = None
    cache = config.cube_cache
    if config.box_loss > 0:
        if not any(s.box is not None for s in samples):
            raise InvalidInputError(
                "--box-loss needs fracture boxes: labels.csv has no z0 y0 x0 z1 y1 x1 values."
            )
        cubes, masks = prepare_cubes_and_masks(
            samples, prep, progress=config.progress, cache_dir=cache
        )
    else:
        cubes = prepare_cubes(samples, prep, progress=config.progress, cache_dir=cache)
    folds, test_idx = split_folds(labels, groups, config.kfold, config.seed)
    size = int(config.input_size)
    stub = ModelCard(
        name=Path(config.out).name,
        version=config.version,
        architecture=config.arch,
        task=ModelTask.CT_FRACTURE,
        spatial_dims=3,
        labels=CT_LABELS,
        input_size=(size, size, size),
        preprocessing=prep.to_dict(),
        architecture_params=architecture_params(config),
    )
    best: tuple[nn.Module, float, npt.NDArray[np.int64]] | None = None
    fold_info = []
    for fold, (train_idx, val_idx) in enumerate(folds):
        network, score, info = _train_fold(
            config, fold, cubes, labels, groups, train_idx, val_idx, device, stub, masks
        )
        fold_info.append(info)
        if best is None or score > best[1]:
            best = (network, score, val_idx)
    assert best is not None
    network, _, val_idx = best
    p_val = predict_cubes(network, cubes, val_idx, device, config.batch_size)
    try:
        ops = classifier_operating_points(
            labels[val_idx], p_val, chosen_on=f"validation split (n={len(val_idx)})"
        )
    except InvalidInputError as exc:
        logger.warning("operating points left at 0.5: %s", exc)
        ops = OperatingPoints(chosen_on="fixed 0.5 (validation split too small)")
    p_test = predict_cubes(network, cubes, test_idx, device, config.batch_size)
    metrics = {"test": _test_metrics(labels[test_idx], p_test, ops.default, config.seed)}
    training = _training_record(
        config, device, samples, labels, len(test_idx), fold_info, masks is not None
    )
    training["wall_time_s"] = round(time.perf_counter() - started, 1)
    card = replace(
        stub,
        operating_points=ops,
        training=training,
        metrics=metrics,
        intended_use=_intended_use(config),
    )
    if not is_main_process():  # one writer: every rank holds the same weights
        return card
    written = save_model(network.cpu(), card, config.out, half=True)
    if not config.keep_checkpoints:
        shutil.rmtree(Path(config.out) / "checkpoints", ignore_errors=True)
    return written
