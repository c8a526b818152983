"""Fragment detector: torchvision RetinaNet on a MobileNetV3-Large FPN (P3–P7) or ResNet-50-FPN.

The first stage of the radiograph pipeline finds perimalleolar bone fragments (one class,
``"fragment"``, plus background). Two backbones share one builder:

- ``"mobilenet_v3_large_fpn"`` (default): MobileNetV3-Large features with an FPN on the
  stride-8, 16 and 32 maps plus P6/P7 (``LastLevelP6P7``), i.e. the five levels P3–P7 of the
  RetinaNet paper; about 5x faster than ResNet-50-FPN on a CPU (``shared/stack.md``).
- ``"resnet50_fpn"``: the reference paper's configuration.

Inference is split in two so that torch and ONNX Runtime share every step but the network:
:class:`DetectorCore` (backbone + heads, raw per-level logits and box regressions) is what
runs, or is exported; :func:`prepare_detector_input` and :func:`decode_detections`
(anchors, box decoding, score threshold, top-k, NMS; the same steps as torchvision's
``RetinaNet.postprocess_detections``) are plain torch code used by both runtimes.

The input is resized keeping its aspect ratio so that its long side is ``long_side`` px; the
RetinaNet's own transform is set to the same size (``min_size = max_size = long_side``) so
training through ``RetinaNet.forward`` and inference through :class:`DetectorCore` see the
same scale. In training mode the transform does not resize (``_skip_resize``): the training
data are resized to the long side once, so that random crops keep the inference scale.
Inference pads the resized image to a ``long_side`` square (rounded up to 32).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v3_large, resnet50
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import (
    BackboneWithFPN,
    _resnet_fpn_extractor,
)
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.ops import boxes as box_ops
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from ankle_core.errors import ModelLoadError
from ankle_core.models.registry import register_architecture

__all__ = [
    "DETECTOR_BACKBONES",
    "DetectorCore",
    "DetectorInput",
    "FragmentDetections",
    "build_fragment_detector",
    "decode_detections",
    "prepare_detector_input",
]

#: Backbones accepted by :func:`build_fragment_detector`.
DETECTOR_BACKBONES: tuple[str, ...] = ("mobilenet_v3_large_fpn", "resnet50_fpn")

_SIZE_DIVISIBLE = 32


def _mobilenet_v3_fpn(fpn_channels: int, width_mult: float) -> BackboneWithFPN:
    """MobileNetV3-Large FPN returning P3–P7, as ``_mobilenet_extractor(..., fpn=True,
    returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(C, C))`` builds it, with the FPN
    width ``C`` configurable (torchvision fixes it at 256)."""
    # BatchNorm momentum 0.1 (torchvision's MobileNetV3 uses 0.01, tuned for long ImageNet
    # runs): with short from-scratch training the running statistics must catch up.
    norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.1)
    features = mobilenet_v3_large(weights=None, width_mult=width_mult, norm_layer=norm).features
    stage_indices = (
        [0]
        + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)]
        + [len(features) - 1]
    )
    returned = [2, 3, 4]  # strides 8, 16, 32
    return_layers = {f"{stage_indices[k]}": str(v) for v, k in enumerate(returned)}
    in_channels = [features[stage_indices[i]].out_channels for i in returned]
    return BackboneWithFPN(
        features,
        return_layers,
        in_channels,
        fpn_channels,
        extra_blocks=LastLevelP6P7(fpn_channels, fpn_channels),
    )


@register_architecture("retinanet_fragment")
def build_fragment_detector(
    backbone: str = "mobilenet_v3_large_fpn",
    num_classes: int = 2,
    long_side: int = 384,
    anchor_sizes: Sequence[int] = (16, 32, 64, 128, 256),
    fpn_channels: int = 256,
    width_mult: float = 1.0,
    score_thresh: float = 0.05,
    nms_thresh: float = 0.5,
    detections_per_img: int = 20,
    topk_candidates: int = 1000,
    norm_groups: int = 32,
) -> RetinaNet:
    """Build the fragment RetinaNet (random init; nothing is downloaded).

    Args:
        backbone: one of :data:`DETECTOR_BACKBONES`.
        num_classes: including background (2: background, fragment).
        long_side: input long side in pixels after the aspect-preserving resize.
        anchor_sizes: base anchor size in pixels (of the resized image) for P3..P7; each level
            also gets the sizes x 2^(1/3) and x 2^(2/3) and aspect ratios 0.5, 1, 2.
        fpn_channels: FPN and head width (MobileNetV3 only; ResNet-50-FPN uses 256).
        width_mult: MobileNetV3 width multiplier.
        score_thresh: lowest class probability kept before NMS.
        nms_thresh: IoU above which NMS suppresses the weaker box.
        detections_per_img: most boxes returned.
        topk_candidates: most candidates per level before NMS.
        norm_groups: groups of the heads' GroupNorm (must divide the FPN width).

    Returns:
        A torchvision :class:`RetinaNet`; ``model(images, targets)`` trains it.
    """
    if len(anchor_sizes) != 5:
        raise ModelLoadError("RetinaNet P3–P7 needs five anchor sizes.")
    if backbone == "mobilenet_v3_large_fpn":
        body: nn.Module = _mobilenet_v3_fpn(fpn_channels, width_mult)
    elif backbone == "resnet50_fpn":
        body = _resnet_fpn_extractor(
            resnet50(weights=None),
            trainable_layers=5,
            returned_layers=[2, 3, 4],
            extra_blocks=LastLevelP6P7(2048, 256),
        )
    else:
        raise ModelLoadError(
            f"Unknown detector backbone {backbone!r}; "
            f"choose one of {', '.join(DETECTOR_BACKBONES)}."
        )
    return retinanet_on_body(
        body,
        num_classes=num_classes,
        long_side=long_side,
        anchor_sizes=anchor_sizes,
        norm_groups=norm_groups,
        score_thresh=score_thresh,
        nms_thresh=nms_thresh,
        detections_per_img=detections_per_img,
        topk_candidates=topk_candidates,
    )


def retinanet_on_body(
    body: nn.Module,
    *,
    num_classes: int,
    long_side: int,
    anchor_sizes: Sequence[int],
    norm_groups: int,
    score_thresh: float,
    nms_thresh: float,
    detections_per_img: int,
    topk_candidates: int,
) -> RetinaNet:
    """Put this project's RetinaNet head on a feature body with P3–P7 outputs.

    Anchors: each level's base size x 1, 2^(1/3), 2^(2/3), aspect ratios 0.5, 1, 2; a
    GroupNorm head with GIoU box loss; no internal resize (inputs arrive resized to
    ``long_side``). Shared by the fragment detector and the real-data fracture localiser.

    Args:
        body: a backbone with FPN exposing ``out_channels`` and five feature levels.
        num_classes: including background.
        long_side: input long side in pixels.
        anchor_sizes: base anchor size in pixels for P3..P7.
        norm_groups: GroupNorm groups (must divide the FPN width).
        score_thresh: lowest class probability kept before NMS.
        nms_thresh: NMS IoU.
        detections_per_img: most boxes returned.
        topk_candidates: most candidates per level before NMS.

    Returns:
        A torchvision :class:`RetinaNet`.
    """
    sizes = tuple((s, int(s * 2 ** (1 / 3)), int(s * 2 ** (2 / 3))) for s in anchor_sizes)
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
    head = RetinaNetHead(
        body.out_channels,
        anchors.num_anchors_per_location()[0],
        num_classes,
        norm_layer=partial(nn.GroupNorm, norm_groups),
    )
    head.regression_head._loss_type = "giou"
    return RetinaNet(
        body,
        num_classes,
        min_size=long_side,
        max_size=long_side,
        anchor_generator=anchors,
        head=head,
        score_thresh=score_thresh,
        nms_thresh=nms_thresh,
        detections_per_img=detections_per_img,
        topk_candidates=topk_candidates,
        _skip_resize=True,  # training images arrive already resized (see datasets2d)
    )


class DetectorCore(nn.Module):
    """Backbone + heads of a RetinaNet, without resizing or post-processing.

    ``forward(x)`` takes the (N, 3, S, S) tensor of :func:`prepare_detector_input` and returns
    a tuple ``(cls_P3, ..., cls_P7, reg_P3, ..., reg_P7)``: per level the raw class logits
    (N, A*K, H_l, W_l) (channel ``a*K + k`` for anchor ``a``, class ``k``) and the box
    regressions (N, A*4, H_l, W_l). This is the graph exported to ONNX; it shares its
    parameters with the RetinaNet it wraps.
    """

    def __init__(self, retinanet: RetinaNet) -> None:
        super().__init__()
        self.backbone = retinanet.backbone
        self.head = retinanet.head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = list(self.backbone(x).values())
        cls_head = self.head.classification_head
        reg_head = self.head.regression_head
        cls = [cls_head.cls_logits(cls_head.conv(f)) for f in features]
        reg = [reg_head.bbox_reg(reg_head.conv(f)) for f in features]
        return (*cls, *reg)


@dataclass(frozen=True)
class DetectorInput:
    """A radiograph ready for :class:`DetectorCore`.

    Attributes:
        tensor: (1, 3, S, S) float32, normalised, zero-padded at the bottom/right.
        resized_hw: (h, w) of the resized image inside the padded square, in pixels.
        scale: resized / original size (same on both axes).
    """

    tensor: torch.Tensor
    resized_hw: tuple[int, int]
    scale: float


def prepare_detector_input(
    pixels: npt.NDArray[np.float32], model: RetinaNet, *, device: torch.device | None = None
) -> DetectorInput:
    """Resize (long side = the model's ``min_size``), normalise and pad a grey radiograph.

    Args:
        pixels: (H, W) float32 in [0, 1], bone bright.
        model: the RetinaNet whose transform settings (size, mean, std) apply.
        device: where the tensor goes (default CPU).

    Returns:
        A :class:`DetectorInput`; the grey image is replicated to 3 channels.
    """
    long_side = int(model.transform.min_size[0])
    h, w = pixels.shape
    scale = long_side / max(h, w)
    rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
    img = torch.tensor(np.asarray(pixels, dtype=np.float32))[None, None]
    if (rh, rw) != (h, w):
        img = F.interpolate(img, size=(rh, rw), mode="bilinear", align_corners=False)
    img = img.expand(1, 3, rh, rw)
    mean = torch.tensor(model.transform.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(model.transform.image_std, dtype=torch.float32).view(1, 3, 1, 1)
    img = (img - mean) / std
    side = int(math.ceil(long_side / _SIZE_DIVISIBLE) * _SIZE_DIVISIBLE)
    img = F.pad(img, (0, side - rw, 0, side - rh))
    return DetectorInput(
        tensor=img.contiguous().to(device or "cpu"), resized_hw=(rh, rw), scale=scale
    )


@dataclass(frozen=True)
class FragmentDetections:
    """Detections of one radiograph, by score descending.

    Attributes:
        boxes: (M, 4) float32 x0, y0, x1, y1 in pixels of the ORIGINAL radiograph.
        scores: (M,) fragment probabilities (sigmoid of the class logit).
        anchor_refs: (M, 4) int64 (level, channel, row, col) of the anchor logit that produced
            each box: ``cls_outputs[level][0, channel, row, col]`` is its class logit. Used
            as the Grad-CAM target of a box.
    """

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    anchor_refs: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def kept(
        self, threshold: float, max_boxes: int | None = None, merge_iou: float = 1.0
    ) -> list[int]:
        """Indices of the detections reported as boxes: the one rule for which are kept.

        Detections scoring at least ``threshold`` (a detection probability in [0, 1]);
        where they overlap at ``merge_iou`` or more they form one cluster (class-agnostic,
        :func:`~ankle_core.models.box_merge.fuse_overlapping`), represented by its best
        detection; at most ``max_boxes`` of them (None: all), by score descending.

        >>> d = FragmentDetections(np.zeros((3, 4), np.float32),
        ...     np.array([0.9, 0.6, 0.2], np.float32), np.zeros((3, 4), np.int64))
        >>> d.kept(0.5), d.kept(0.5, max_boxes=1)
        ([0, 1], [0])
        """
        return [i for i, _ in self.kept_boxes(threshold, max_boxes, merge_iou)]

    def kept_boxes(
        self, threshold: float, max_boxes: int | None = None, merge_iou: float = 1.0
    ) -> list[tuple[int, tuple[float, float, float, float]]]:
        """:meth:`kept`'s indices with each one's reported box (x0, y0, x1, y1, pixels): the
        score-weighted fusion of its cluster (its own box when alone or ``merge_iou >= 1``)."""
        from ankle_core.models.box_merge import fuse_overlapping

        keep = [i for i, s in enumerate(self.scores) if s >= threshold]
        if merge_iou >= 1.0 or len(keep) < 2:
            out = [(i, _xyxy(self.boxes[i])) for i in keep]
        else:
            clusters = fuse_overlapping(self.boxes[keep], self.scores[keep], merge_iou)
            out = [(keep[best], fused) for best, _, fused in clusters]
        return out if max_boxes is None else out[:max_boxes]


def _xyxy(box: npt.NDArray[np.float32]) -> tuple[float, float, float, float]:
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


def decode_detections(
    outputs: Sequence[torch.Tensor],
    model: RetinaNet,
    prepared: DetectorInput,
    *,
    score_thresh: float | None = None,
) -> FragmentDetections:
    """Turn raw :class:`DetectorCore` outputs into boxes (anchors, decoding, top-k, NMS).

    The same steps as torchvision's ``RetinaNet.postprocess_detections``, keeping track of
    which anchor produced each box. Runs on the outputs of torch or ONNX Runtime alike.

    Args:
        outputs: the 2L tensors of :class:`DetectorCore` for a batch of one.
        model: the RetinaNet (anchor generator, box coder, thresholds).
        prepared: the input the outputs came from.
        score_thresh: overrides the model's pre-NMS score threshold.

    Returns:
        :class:`FragmentDetections` in original-image pixels.
    """
    n_levels = len(outputs) // 2
    cls_levels = [torch.as_tensor(o).float().cpu() for o in outputs[:n_levels]]
    reg_levels = [torch.as_tensor(o).float().cpu() for o in outputs[n_levels:]]
    thresh = model.score_thresh if score_thresh is None else score_thresh
    side = prepared.tensor.shape[-2:]
    image_list = ImageList(torch.zeros(1, 3, *side), [(int(side[0]), int(side[1]))])
    anchors = model.anchor_generator(image_list, cls_levels)[0]
    num_classes = int(model.head.classification_head.num_classes)
    boxes_all, scores_all, labels_all, refs_all = [], [], [], []
    start = 0
    for level, (cls, reg) in enumerate(zip(cls_levels, reg_levels, strict=True)):
        _, ak, h, w = cls.shape
        a = ak // num_classes
        logits = cls.view(1, a, num_classes, h, w).permute(0, 3, 4, 1, 2).reshape(-1)
        regs = reg.view(1, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(-1, 4)
        level_anchors = anchors[start : start + h * w * a]
        start += h * w * a
        scores = torch.sigmoid(logits)
        idx = torch.where(scores > thresh)[0]
        if idx.numel() > model.topk_candidates:
            idx = idx[scores[idx].topk(model.topk_candidates).indices]
        anchor_idx = idx // num_classes
        label = idx % num_classes
        decoded = model.box_coder.decode_single(regs[anchor_idx], level_anchors[anchor_idx])
        decoded = box_ops.clip_boxes_to_image(decoded, prepared.resized_hw)
        yx, a_i = anchor_idx // a, anchor_idx % a
        refs = torch.stack(
            [torch.full_like(label, level), a_i * num_classes + label, yx // w, yx % w], dim=1
        )
        boxes_all.append(decoded)
        scores_all.append(scores[idx])
        labels_all.append(label)
        refs_all.append(refs)
    boxes = torch.cat(boxes_all)
    scores = torch.cat(scores_all)
    labels = torch.cat(labels_all)
    refs = torch.cat(refs_all)
    keep = box_ops.batched_nms(boxes, scores, labels, model.nms_thresh)
    keep = keep[: model.detections_per_img]
    # drop boxes left degenerate by clipping
    boxes, scores, refs = boxes[keep], scores[keep], refs[keep]
    valid = (boxes[:, 2] > boxes[:, 0] + 1e-3) & (boxes[:, 3] > boxes[:, 1] + 1e-3)
    boxes, scores, refs = boxes[valid] / prepared.scale, scores[valid], refs[valid]
    return FragmentDetections(
        boxes=boxes.numpy().astype(np.float32),
        scores=scores.numpy().astype(np.float32),
        anchor_refs=refs.numpy().astype(np.int64),
    )
