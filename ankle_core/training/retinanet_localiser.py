"""Train the general fracture localiser on the real fracture-box radiographs.

Usage::

    python -m ankle_core.training.retinanet_localiser --out models/fracture-detector-xr \\
        --epochs 8 --long-side 384 --crop 256 --time-limit-min 33 --threads 1

Splits: the data set's ``valid/`` folder is the validation split; ``train/`` is the training
split minus any image whose source group (file name before ``.rf.``) also occurs in
``valid/``, so augmented copies never straddle the split. Each epoch draws one augmented copy
per training source image (the three copies are near-duplicates), with the library's 2D
augmentation and random square crops at the inference scale. The schedule is fixed (no
early stopping): the validation split is used once, for the reported metrics and the
operating points. Metrics carry 95% CIs bootstrapped over source images
(:mod:`ankle_core.stats.detection`).
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

from ankle_core.errors import InvalidInputError
from ankle_core.models.card import ModelCard
from ankle_core.models.retinanet_localiser import (
    build_fracture_localiser,
    freeze_stem,
    init_localiser_from_imagenet,
)
from ankle_core.models.weights import save_model
from ankle_core.realdata.fracture_boxes import DATASET_CREDIT, FractureImage, read_fracture_boxes
from ankle_core.realdata.sources import FRACTURE_BOXES, find_real_data
from ankle_core.stats.detection import detection_report
from ankle_core.training.augment2d import AugmentConfig
from ankle_core.training.datasets2d import DetectorData, Sample
from ankle_core.training.evaluate import detection_threshold

__all__ = ["INTENDED_USE", "main", "split_by_source"]

logger = logging.getLogger(__name__)

INTENDED_USE = (
    "A general extremity-fracture localiser (wrist, forearm, hand, finger, tibia/fibula "
    "radiographs) trained on a public CC BY 4.0 data set: " + DATASET_CREDIT + ". "
    "It has NOT been validated on ankles and is NOT for clinical use; research and "
    "demonstration only. Boxes are suggestions with modest accuracy (see metrics)."
)


def split_by_source(
    images: Sequence[FractureImage],
) -> tuple[list[FractureImage], list[FractureImage]]:
    """(train, validation): ``valid/`` images, and ``train/`` images whose group is not in it."""
    val = [im for im in images if im.split == "valid"]
    val_groups = {im.group for im in val}
    train = [im for im in images if im.split == "train" and im.group not in val_groups]
    return train, val


def _samples(images: Sequence[FractureImage]) -> list[Sample]:
    return [
        Sample(im.path, im.group, "fracture" if im.boxes else "none", im.boxes) for im in images
    ]


def _one_copy_per_source(groups: dict[str, list[int]], rng: np.random.Generator) -> list[int]:
    """One random image index per source group, in random group order."""
    keys = sorted(groups)
    out = []
    for j in rng.permutation(len(keys)):
        members = groups[keys[int(j)]]
        out.append(members[int(rng.integers(len(members)))])
    return out


def _predict(model: nn.Module, data: DetectorData) -> tuple[list[Any], list[Any]]:
    boxes, scores = [], []
    model.eval()
    with torch.no_grad():
        for images, _ in data.batches(4, None):
            for det in model(images):
                boxes.append(det["boxes"].numpy())
                scores.append(det["scores"].numpy())
    return boxes, scores


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ankle_core.training.retinanet_localiser")
    p.add_argument("--data", type=Path, default=None, help="radiographs-fracture-boxes folder")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name", default="fracture-detector-xr")
    p.add_argument("--version", default="0.1.0")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--long-side", type=int, default=384)
    p.add_argument("--crop", type=int, default=256, help="training crop side (0: whole image)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--time-limit-min", type=float, default=0.0)
    p.add_argument("--init", choices=("imagenet", "scratch"), default="imagenet")
    p.add_argument("--cache-dir", type=Path, default=Path("models/_pretrained"))
    p.add_argument("--n-boot", type=int, default=2000)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Train, evaluate on the validation split, write the model folder; exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    root = args.data or find_real_data(FRACTURE_BOXES)
    if root is None:
        raise InvalidInputError("The radiographs-fracture-boxes folder was not found.")
    t0 = time.monotonic()
    train_imgs, val_imgs = split_by_source(read_fracture_boxes(root))
    train = DetectorData(
        _samples(train_imgs),
        args.long_side,
        AugmentConfig(max_rotation_deg=10.0),
        crop_size=args.crop or None,
    )
    val = DetectorData(_samples(val_imgs), args.long_side, None)
    logger.info("images read in %.0f s", time.monotonic() - t0)
    params = {"num_classes": 2, "long_side": args.long_side}
    model = build_fracture_localiser(**params)
    init: Any = "scratch"
    if args.init == "imagenet":
        init = init_localiser_from_imagenet(model, args.cache_dir).to_dict()
        freeze_stem(model)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    groups: dict[str, list[int]] = {}
    for i, im in enumerate(train_imgs):
        groups.setdefault(im.group, []).append(i)
    keys = sorted(groups)
    deadline = time.monotonic() + 60 * args.time_limit_min if args.time_limit_min else np.inf
    history = []
    t_train = time.monotonic()
    for epoch in range(args.epochs):
        if time.monotonic() > deadline:
            break
        rng = np.random.default_rng([args.seed, epoch])
        order = _one_copy_per_source(groups, rng)
        model.train()
        losses = []
        for start in range(0, len(order), args.batch_size):
            items = [train.item(i, rng) for i in order[start : start + args.batch_size]]
            loss_dict = model([x for x, _ in items], [t for _, t in items])
            loss = sum(loss_dict.values())
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            losses.append(float(loss.item()))
            if time.monotonic() > deadline:
                break
        history.append({"epoch": epoch + 1, "train_loss": round(float(np.mean(losses)), 4)})
        logger.info(
            "epoch %d loss %.4f (%.0f s)",
            epoch + 1,
            history[-1]["train_loss"],
            time.monotonic() - t_train,
        )
    train_s = time.monotonic() - t_train
    vb, vs = _predict(model, val)
    val_groups = [im.group for im in val_imgs]
    report = detection_report(
        vb, vs, val.boxes, val_groups, n_boot=args.n_boot, rng=np.random.default_rng(args.seed)
    )
    ops = detection_threshold(vb, vs, val.boxes)
    card = ModelCard(
        name=args.name,
        version=args.version,
        architecture="retinanet_mobilenet_v2_fpn",
        task="fracture-localisation",
        spatial_dims=2,
        labels=("background", "fracture"),
        input_size=(args.long_side, args.long_side),
        preprocessing={
            "resize": "aspect-preserving, long side = input_size, bilinear",
            "channels": "grey replicated to 3",
            "normalize": "ImageNet mean/std",
            "pad": "zero (after normalisation) to a square of input_size rounded up to 32",
        },
        architecture_params=params,
        operating_points=ops,
        training={
            "data": f"real radiographs: {DATASET_CREDIT}; class 1 'fracture' only",
            "splits": {
                "train": {"images": len(train_imgs), "source_images": len(keys)},
                "val": {
                    "images": len(val_imgs),
                    "source_images": len({im.group for im in val_imgs}),
                },
                "rule": "the data set's valid/ folder; train/ minus the sources also in valid/ "
                "(source = file-name prefix before .rf.)",
            },
            "init": init,
            "frozen": "MobileNetV2 BatchNorm (FrozenBatchNorm2d) and features[0:4]"
            if args.init == "imagenet"
            else "BatchNorm only",
            "command": "python -m ankle_core.training.retinanet_localiser "
            + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
            "seed": args.seed,
            "device": f"cpu ({platform.machine()}), {args.threads} torch thread(s), shared machine",
            "trained_where": "CPU, no GPU",
            "torch_version": torch.__version__,
            "epochs_run": len(history),
            "schedule": f"fixed, Adam lr {args.lr}, batch {args.batch_size}, one augmented "
            f"copy per source image per epoch, {args.crop}px crops",
            "history": history,
            "training_wall_time_s": round(train_s, 1),
        },
        metrics={f"val_{k}": v for k, v in report.items()},
        intended_use=INTENDED_USE,
    )
    save_model(model, card, args.out, half=True)
    summary = ", ".join(f"{k} {v['value']} {v['ci95']}" for k, v in report.items())
    print(f"localiser written to {args.out}: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
