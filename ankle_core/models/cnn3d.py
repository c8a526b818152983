"""3D CNN classifiers for CT, registered by name for model cards.

Three families, as in the CT paper (input 128^3 there); MONAI's networks wherever they fit.
Parameter counts with 2 output classes and 1 input channel:

- ``ct_mobilenet3d`` (param ``width_mult``): :class:`~ankle_core.models.mobilenet3d.MobileNet`
  (ours; MONAI has none). Width 1.0: 2,354,882; 0.5: 755,330 (the demo model); 0.35:
  445,634.
- ``ct_resnet`` (param ``depth``): ``monai.networks.nets.resnet{18,34,50,101}``. 18:
  33,161,922; 34: 63,471,554; 50: 46,163,010; 101: 85,209,154.
- ``ct_efficientnet`` (param ``variant``): ``monai.networks.nets.EfficientNetBN``. b0:
  4,690,942; b1: 7,449,058; b2: 8,717,764; b3: 12,061,546; b4: 19,616,346; b5: 31,052,562;
  b6: 44,396,138; b7: 68,764,114.

Counts are measured by :func:`count_parameters` (built on the meta device, so B7 costs no
memory); ``docs/ct.md`` lists every variant. Every network takes ``(N, 1, D, H, W)`` and
returns ``(N, num_classes)`` logits; with the default 2 classes the labels are
``("no fracture", "fracture")`` and the fracture probability is the softmax of logit 1.
The input size is free; the paper used 128^3, the CPU demo model 48^3 at 1.5 mm.

:func:`feature_stages` lists, per family, the blocks a Grad-CAM may use with their
cumulative strides (see :func:`ankle_core.explain.ct.gradcam_layer`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from monai.networks.nets.efficientnet import EfficientNetBN
from monai.networks.nets.resnet import ResNet, resnet18, resnet34, resnet50, resnet101
from torch import nn

from ankle_core.models.mobilenet3d import MobileNet
from ankle_core.models.registry import register_architecture

__all__ = [
    "CT_LABELS",
    "EFFICIENTNET_VARIANTS",
    "RESNET_DEPTHS",
    "build_ct_efficientnet",
    "build_ct_mobilenet3d",
    "build_ct_resnet",
    "count_parameters",
    "feature_stages",
]

CT_LABELS: tuple[str, str] = ("no fracture", "fracture")
RESNET_DEPTHS: tuple[int, ...] = (18, 34, 50, 101)
EFFICIENTNET_VARIANTS: tuple[str, ...] = tuple(f"b{i}" for i in range(8))

_RESNETS: dict[int, Callable[..., nn.Module]] = {
    18: resnet18,
    34: resnet34,
    50: resnet50,
    101: resnet101,
}


@register_architecture("ct_mobilenet3d")
def build_ct_mobilenet3d(
    num_classes: int = 2,
    width_mult: float = 1.0,
    last_channel: int = 1280,
    dropout_prob: float = 0.2,
    in_channels: int = 1,
    global_pool: str = "avg",
) -> nn.Module:
    """3D MobileNetV2 (inverted residuals, depthwise 3D convolutions).

    Args:
        num_classes: output logits (2: no fracture, fracture).
        width_mult: channel multiplier; 1.0 has 2.35 M parameters, 0.5 has 0.76 M.
        last_channel: channels of the head convolution.
        dropout_prob: dropout before the classifier.
        in_channels: input channels.
        global_pool: ``"avg"`` or ``"max"`` global pooling before the classifier.

    Returns:
        Module taking (N, 1, D, H, W), any D/H/W (128^3 in the paper, 64^3 in the demo).
    """
    return MobileNet(
        spatial_dims=3,
        in_channels=in_channels,
        num_classes=num_classes,
        width_mult=width_mult,
        last_channel=last_channel,
        dropout_prob=dropout_prob,
        global_pool=global_pool,
    )


@register_architecture("ct_resnet")
def build_ct_resnet(
    depth: int = 18, num_classes: int = 2, in_channels: int = 1, **kwargs: Any
) -> nn.Module:
    """MONAI's 3D ResNet (``monai.networks.nets.resnet{depth}``, ``spatial_dims=3``).

    Args:
        depth: 18 (33.2 M parameters), 34 (63.5 M), 50 (46.2 M) or 101 (85.2 M); MONAI's
            3D ResNets keep full-width 3x3x3 kernels, hence more than the paper's 42.5 M.
        num_classes: output logits.
        in_channels: input channels.
        **kwargs: passed to MONAI (e.g. ``conv1_t_stride=2`` for a stride-2 stem; MONAI's
            default keeps the stem at stride 1, so layer4 is at stride 16).

    Returns:
        Module taking (N, 1, D, H, W); about 3.9 s per 128^3 volume on 2 CPU threads (18).
    """
    if depth not in _RESNETS:
        raise ValueError(f"ResNet depth must be one of {RESNET_DEPTHS}, got {depth}.")
    return _RESNETS[depth](
        spatial_dims=3, n_input_channels=in_channels, num_classes=num_classes, **kwargs
    )


@register_architecture("ct_efficientnet")
def build_ct_efficientnet(
    variant: str = "b0", num_classes: int = 2, in_channels: int = 1
) -> nn.Module:
    """MONAI's ``EfficientNetBN(f"efficientnet-{variant}", spatial_dims=3)``, untrained.

    Args:
        variant: ``"b0"`` (4.7 M parameters) ... ``"b7"`` (68.8 M); compound scaling of depth
            and width (MONAI ignores the resolution factor: the input size is free).
        num_classes: output logits.
        in_channels: input channels.

    Returns:
        Module taking (N, 1, D, H, W); about 0.6 s per 128^3 volume on 2 CPU threads (b0).
    """
    key = variant.lower().removeprefix("efficientnet-")
    if key not in EFFICIENTNET_VARIANTS:
        raise ValueError(f"EfficientNet variant must be one of {EFFICIENTNET_VARIANTS}.")
    return EfficientNetBN(
        f"efficientnet-{key}",
        pretrained=False,
        spatial_dims=3,
        in_channels=in_channels,
        num_classes=num_classes,
    )


def count_parameters(builder: Callable[..., nn.Module], **params: Any) -> int:
    """Number of parameters of ``builder(**params)``, built on the meta device (no memory).

    >>> count_parameters(build_ct_mobilenet3d, width_mult=0.5)
    755330
    """
    with torch.device("meta"):
        network = builder(**params)
    return sum(p.numel() for p in network.parameters())


def _stride(module: nn.Module) -> int:
    stride = getattr(module, "stride", 1)
    return int(stride[0] if isinstance(stride, tuple | list) else stride)


def feature_stages(network: nn.Module) -> list[tuple[str, nn.Module, int]]:
    """Blocks a Grad-CAM may target, shallow to deep, with their cumulative stride.

    Args:
        network: a network built by one of this module's builders.

    Returns:
        ``(name, module, stride)`` triples: a block's output map is ``input / stride`` per
        axis.

    Raises:
        ValueError: the network is not one of the registered CT families.
    """
    if isinstance(network, MobileNet):
        return [
            (f"features.{i}", block, stride)
            for i, (block, stride) in enumerate(
                zip(network.features, network.stage_strides, strict=True)
            )
        ]
    if isinstance(network, ResNet):
        stride = _stride(network.conv1)
        if not isinstance(network.maxpool, nn.Identity):
            stride *= _stride(network.maxpool)
        out = []
        for i in range(1, 5):
            layer = getattr(network, f"layer{i}")
            first = layer[0]
            stride *= max(_stride(first.conv1), _stride(first.conv2))
            out.append((f"layer{i}", layer, stride))
        return out
    if isinstance(network, EfficientNetBN):
        stride = _stride(network._conv_stem)
        out = []
        for i, stage in enumerate(network._blocks):
            stride *= _stride(stage[0]._depthwise_conv)  # type: ignore[index]
            out.append((f"_blocks.{i}", stage, stride))
        return out
    raise ValueError(f"No Grad-CAM stages known for {type(network).__name__}.")
