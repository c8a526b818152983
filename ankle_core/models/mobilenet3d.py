"""MobileNetV2 for 2D and 3D inputs, written in MONAI's style (MONAI has no MobileNet).

Sandler et al. (2018), "MobileNetV2: Inverted Residuals and Linear Bottlenecks"; the 3D
form follows Köpüklü et al. (2019), "Resource Efficient 3D Convolutional Neural Networks":
every convolution becomes its ``spatial_dims``-D counterpart (through MONAI's layer
factories), depthwise convolutions stay depthwise (3x3x3, ``groups=channels``).

One class serves 2D and 3D through ``spatial_dims``, as MONAI's ``EfficientNetBN`` and
``ResNet`` do. The feature extractor is ``features``, a ``Sequential`` of the stem, the seven
inverted-residual stages and the 1x1 head convolution; ``stage_strides`` gives each
element's cumulative stride, so Grad-CAM can pick a stage whose map is not degenerate.

Parameter counts (1 input channel, 2 classes, measured with
:func:`ankle_core.models.cnn3d.count_parameters`): 3D, width 1.0: 2,354,882 (the paper
reports about 3.2 M for its 3D-MobileNet); width 0.5: 755,330 (the head stays at 1280
channels); 2D, width 1.0: 2,225,858. The input size is free (an edge divisible by 32 keeps
the maps aligned); 128^3 as in the CT paper, 48^3 for the CPU demo model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.networks.layers.factories import Conv, Pool
from monai.networks.layers.utils import get_act_layer, get_norm_layer
from torch import nn

__all__ = ["DEFAULT_SETTING", "InvertedResidual", "MobileNet"]

#: (expansion t, output channels c, repeats n, first stride s) of MobileNetV2's stages.
DEFAULT_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor`` without losing more than 10%."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


class ConvNormAct(nn.Sequential):
    """Convolution, normalisation, activation (``act=None`` gives a linear bottleneck)."""

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        norm: str | tuple[Any, ...] = "batch",
        act: str | tuple[Any, ...] | None = "relu6",
    ) -> None:
        conv_type = Conv[Conv.CONV, spatial_dims]
        layers: list[nn.Module] = [
            conv_type(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=kernel_size // 2,
                groups=groups,
                bias=False,
            ),
            get_norm_layer(norm, spatial_dims=spatial_dims, channels=out_channels),
        ]
        if act is not None:
            layers.append(get_act_layer(act))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise (3x3[x3]), project (1x1, linear); a skip when shapes match.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels.
        stride: stride of the depthwise convolution (1 or 2).
        expand_ratio: hidden channels = ``in_channels * expand_ratio``.
        norm: MONAI norm spec.
        act: MONAI activation spec.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        stride: int,
        expand_ratio: int,
        norm: str | tuple[Any, ...] = "batch",
        act: str | tuple[Any, ...] = "relu6",
    ) -> None:
        super().__init__()
        hidden = round(in_channels * expand_ratio)
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(spatial_dims, in_channels, hidden, 1, norm=norm, act=act))
        layers.append(
            ConvNormAct(spatial_dims, hidden, hidden, 3, stride, groups=hidden, norm=norm, act=act)
        )
        layers.append(ConvNormAct(spatial_dims, hidden, out_channels, 1, norm=norm, act=None))
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x)
        return x + out if self.use_residual else out


class MobileNet(nn.Module):
    """MobileNetV2 classifier for ``spatial_dims``-D inputs.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (1 for CT).
        num_classes: output logits.
        width_mult: channel multiplier (1.0 = MobileNetV2; 0.5 halves every stage).
        inverted_residual_setting: stages as (t, c, n, s); default :data:`DEFAULT_SETTING`.
        last_channel: channels of the 1x1 head convolution (scaled when ``width_mult > 1``).
        dropout_prob: dropout before the classifier.
        norm: MONAI norm spec (default batch norm).
        act: MONAI activation spec (default ReLU6).
        global_pool: ``"avg"`` (MobileNetV2's global average pooling) or ``"max"`` (global
            max pooling: the score follows the strongest local evidence, which suits a
            small finding such as a fracture line in a large volume, as in
            multiple-instance learning; see docs/ct.md).

    Input ``(N, in_channels, *spatial)``; output ``(N, num_classes)`` logits.

    >>> net = MobileNet(spatial_dims=3, in_channels=1, num_classes=2, width_mult=0.25)
    >>> net.eval()(torch.zeros(1, 1, 32, 32, 32)).shape
    torch.Size([1, 2])
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        num_classes: int = 2,
        width_mult: float = 1.0,
        inverted_residual_setting: Sequence[Sequence[int]] | None = None,
        last_channel: int = 1280,
        dropout_prob: float = 0.2,
        norm: str | tuple[Any, ...] = "batch",
        act: str | tuple[Any, ...] = "relu6",
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}.")
        if global_pool not in ("avg", "max"):
            raise ValueError(f"global_pool must be 'avg' or 'max', got {global_pool!r}.")
        setting = tuple(tuple(s) for s in (inverted_residual_setting or DEFAULT_SETTING))
        channels = _make_divisible(32 * width_mult)
        head = _make_divisible(last_channel * max(1.0, width_mult))
        layers: list[nn.Module] = [
            ConvNormAct(spatial_dims, in_channels, channels, 3, stride=2, norm=norm, act=act)
        ]
        strides = [2]
        for t, c, n, s in setting:
            out_channels = _make_divisible(c * width_mult)
            blocks = [
                InvertedResidual(
                    spatial_dims,
                    channels if i == 0 else out_channels,
                    out_channels,
                    s if i == 0 else 1,
                    t,
                    norm=norm,
                    act=act,
                )
                for i in range(n)
            ]
            layers.append(nn.Sequential(*blocks))
            strides.append(strides[-1] * s)
            channels = out_channels
        layers.append(ConvNormAct(spatial_dims, channels, head, 1, norm=norm, act=act))
        strides.append(strides[-1])
        self.spatial_dims = spatial_dims
        self.stage_strides: tuple[int, ...] = tuple(strides)
        self.features = nn.Sequential(*layers)
        self.global_pool = global_pool
        pool_type = Pool.ADAPTIVEMAX if global_pool == "max" else Pool.ADAPTIVEAVG
        self.pool = Pool[pool_type, spatial_dims](1)
        self.classifier = nn.Sequential(nn.Dropout(dropout_prob), nn.Linear(head, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(self.pool(x), 1)
        out: torch.Tensor = self.classifier(x)
        return out
