"""Recipe: train the RetinaNet fragment detector on a folder of radiographs.

Config in (:class:`DetectorConfig`), card out (:func:`train_detector`). The cases are split
by patient (stratified by label; fixed seed); Adam with early stopping on the validation
AP@0.5 and a resumable checkpoint every epoch; the best weights are evaluated on the test
split and ``<out>/model.safetensors`` and ``<out>/card.json`` are written (command, seed,
device, splits, test AP@0.5 and recall with a 95% CI, the detection threshold chosen on the
validation split). ``python -m ankle_core.training detector`` parses its flags into the
config (:mod:`ankle_core.training.radiograph_cli`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ankle_core.models.card import ModelCard, ModelTask
from ankle_core.models.weights import save_model
from ankle_core.training.augment2d import AugmentConfig
from ankle_core.training.datasets2d import DetectorData, load_samples
from ankle_core.training.distributed import is_main_process, prepare_model
from ankle_core.training.evaluate import (
    average_precision,
    card_ci95,
    detection_recall,
    detection_threshold,
)
from ankle_core.training.loaders import (
    EpochKeys,
    SeededBatches,
    SeededItems,
    collate_lists,
    make_loader,
)
from ankle_core.training.loop import fit
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

__all__ = ["DetectorConfig", "predict_boxes", "train_detector"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorConfig(RadiographTrainConfig):
    """The detector recipe's options (the shared ones, plus the network's).

    Attributes:
        backbone: torchvision backbone of the RetinaNet.
        long_side: Input long side, pixels (images are resized to it).
        fpn_channels: Feature-pyramid channels.
        norm_groups: GroupNorm groups in the heads.
        train_crop: Train on random square crops of this side, pixels (0: whole images).
    """

    backbone: str = "mobilenet_v3_large_fpn"
    long_side: int = 384
    fpn_channels: int = 256
    norm_groups: int = 32
    train_crop: int = 0


def predict_boxes(
    model: nn.Module, data: DetectorData, device: torch.device
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Boxes (x0, y0, x1, y1, pixels of the resized image) and scores for every image."""
    boxes, scores = [], []
    model.eval()
    with torch.no_grad():
        for images, _ in data.batches(8, None):
            for det in model([im.to(device) for im in images]):
                boxes.append(det["boxes"].cpu().numpy())
                scores.append(det["scores"].cpu().numpy())
    return boxes, scores


def train_detector(config: DetectorConfig) -> ModelCard:
    """Train the fragment detector and write its model folder.

    Args:
        config: The recipe's options.

    Returns:
        The card written to ``<config.out>/card.json``.
    """
    from ankle_core.models.detector import build_fragment_detector

    command = command_line("detector", config)
    commands = run_commands(config, command)
    device = setup(config)
    t0 = time.monotonic()
    samples = load_samples(config.data)
    split = split_samples(samples, config)
    params = {
        "backbone": config.backbone,
        "num_classes": 2,
        "long_side": int(config.long_side),
        "fpn_channels": int(config.fpn_channels),
        "norm_groups": int(config.norm_groups),
    }
    logger.info("reading %d images", len(samples))
    train = DetectorData(
        [samples[i] for i in split.train],
        config.long_side,
        AugmentConfig(),
        crop_size=config.train_crop or None,
    )
    val = DetectorData([samples[i] for i in split.val], config.long_side, None)
    test = DetectorData([samples[i] for i in split.test], config.long_side, None)
    net = build_fragment_detector(**params)
    model = prepare_model(net, device)  # DDP under torchrun / Ray Train (--devices N)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    amp = bool(config.amp) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    stop_at = deadline(config)

    order = SeededBatches(len(train), config.batch_size, seed=config.seed)
    workers = int(config.loader_workers)
    items = SeededItems(train.item, config.seed, order if workers == 0 else None)
    keyed = EpochKeys(order)
    loader = make_loader(items, keyed, workers=workers, device=device, collate=collate_lists)

    def batches(epoch: int) -> Any:
        if time.monotonic() > stop_at:
            return iter(())
        keyed.set_epoch(epoch)
        return loader

    def step(batch: Any) -> torch.Tensor:
        images, targets = batch
        with torch.autocast(device.type, enabled=amp):
            losses = model(
                [im.to(device, non_blocking=True) for im in images],
                [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets],
            )
            loss: torch.Tensor = sum(losses.values())  # type: ignore[assignment]
        optimizer.zero_grad(set_to_none=True)
        scaled: Any = scaler.scale(loss)
        scaled.backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        scaler.step(optimizer)
        scaler.update()
        return loss.detach()  # summed on the device by fit, read once per epoch

    def validate() -> dict[str, float]:
        b, s = predict_boxes(net, val, device)
        return {"val_ap50": average_precision(b, s, val.boxes)}

    result = fit(
        model,
        optimizer,
        batches=batches,
        step=step,
        validate=validate,
        monitor="val_ap50",
        epochs=config.epochs,
        patience=config.patience,
        checkpoint=Path(config.out) / "checkpoints" / "last.pt",
        resume=config.resume,
        progress=config.progress,
        steps_per_epoch=len(keyed),
        extra_state={"commands": commands},
        per_rank=True,  # the sampler draws this rank's share
    )
    model = net  # the best weights (fit loaded them), without the DDP wrapper
    vb, vs = predict_boxes(model, val, device)
    ops = detection_threshold(vb, vs, val.boxes)
    tb, ts = predict_boxes(model, test, device)
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
    wall_s = time.monotonic() - t0
    card = ModelCard(
        name=config.name or Path(config.out).name,
        version=config.version,
        architecture="retinanet_fragment",
        task=ModelTask.FRAGMENT_DETECTION,
        spatial_dims=2,
        labels=("background", "fragment"),
        input_size=(int(config.long_side), int(config.long_side)),
        preprocessing={
            "resize": "aspect-preserving, long side = input_size, bilinear",
            "channels": "grey replicated to 3",
            "normalize": "ImageNet mean/std",
            "pad": "zero (after normalisation) to a square of input_size rounded up to 32",
        },
        architecture_params=params,
        operating_points=ops,
        training=training_record(config, command, commands, device, samples, split, result, wall_s),
        metrics=metrics,
        intended_use=intended_use(config),
    )
    if not is_main_process():  # one writer: every rank holds the same weights
        return card
    written = save_model(model.cpu(), card, config.out, half=True)
    logger.info("wrote %s", config.out)
    return written
