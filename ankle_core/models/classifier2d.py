"""Fragment classifiers (LMAF vs SFO): MobileNetV2 and three comparators behind one builder.

The reference study's second stage is a MobileNetV2 that calls each detected fragment a
lateral malleolar avulsion fracture (LMAF, class 1) or a subfibular ossicle (SFO, class 0).
EfficientNet-B0, ResNet-50 and DenseNet-121 are its comparators. All four come from
torchvision with ``weights=None`` (nothing is ever downloaded); ImageNet initialisation is a
training option (:func:`load_imagenet_weights`) from a local, hash-checked file.

Cards use ``architecture="lmaf_classifier"`` and
``architecture_params={"backbone": "mobilenet_v2", "num_classes": 2}``.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm

from ankle_core.errors import ModelLoadError
from ankle_core.models.registry import register_architecture

__all__ = [
    "CLASSIFIER_BACKBONES",
    "build_lmaf_classifier",
    "cam_layer",
    "load_imagenet_weights",
]

logger = logging.getLogger(__name__)

#: Backbones accepted by :func:`build_lmaf_classifier`.
CLASSIFIER_BACKBONES: tuple[str, ...] = (
    "mobilenet_v2",
    "efficientnet_b0",
    "resnet50",
    "densenet121",
)


@register_architecture("lmaf_classifier")
def build_lmaf_classifier(
    backbone: str = "mobilenet_v2", num_classes: int = 2, dropout: float = 0.2
) -> nn.Module:
    """Build a torchvision classifier with a fresh ``num_classes`` head (random init).

    Args:
        backbone: one of :data:`CLASSIFIER_BACKBONES`.
        num_classes: output logits; 2 for SFO (index 0) vs LMAF (index 1).
        dropout: dropout before the last linear layer (MobileNetV2, EfficientNet-B0).

    Returns:
        A module mapping (N, 3, H, W) float32 normalised crops to (N, num_classes) logits.
        Any H, W of at least 32 px works (global average pooling).

    Raises:
        ModelLoadError: unknown backbone.
    """
    net: nn.Module
    if backbone == "mobilenet_v2":
        net = tvm.mobilenet_v2(weights=None, num_classes=num_classes, dropout=dropout)
    elif backbone == "efficientnet_b0":
        net = tvm.efficientnet_b0(weights=None, num_classes=num_classes, dropout=dropout)
    elif backbone == "resnet50":
        net = tvm.resnet50(weights=None, num_classes=num_classes)
    elif backbone == "densenet121":
        net = tvm.densenet121(weights=None, num_classes=num_classes)
    else:
        raise ModelLoadError(
            f"Unknown classifier backbone {backbone!r}; "
            f"choose one of {', '.join(CLASSIFIER_BACKBONES)}."
        )
    return net


def cam_layer(model: nn.Module) -> nn.Module:
    """The last convolutional block of a classifier built by :func:`build_lmaf_classifier`.

    This is the layer Grad-CAM explains: MobileNetV2's and EfficientNet-B0's final 1x1
    conv block (``features[-1]``), ResNet-50's ``layer4`` and DenseNet-121's last dense block.

    Raises:
        ValueError: the model is not one of the supported classifiers.
    """
    if isinstance(model, tvm.MobileNetV2 | tvm.EfficientNet):
        layer: nn.Module = model.features[-1]
        return layer
    if isinstance(model, tvm.ResNet):
        resnet_layer: nn.Module = model.layer4
        return resnet_layer
    if isinstance(model, tvm.DenseNet):
        dense_layer: nn.Module = model.features.denseblock4
        return dense_layer
    raise ValueError(f"No Grad-CAM layer known for {type(model).__name__}.")


def _classifier_head_keys(model: nn.Module) -> tuple[str, ...]:
    if isinstance(model, tvm.MobileNetV2 | tvm.EfficientNet):
        return ("classifier.1.weight", "classifier.1.bias")
    if isinstance(model, tvm.ResNet):
        return ("fc.weight", "fc.bias")
    if isinstance(model, tvm.DenseNet):
        return ("classifier.weight", "classifier.bias")
    raise ValueError(f"Unsupported classifier {type(model).__name__}.")


def load_imagenet_weights(
    model: nn.Module, path: str | Path, *, sha256: str | None = None
) -> list[str]:
    """Initialise ``model`` from a local torchvision ImageNet state dict, all but the head.

    The file is a ``.safetensors`` file or a torchvision ``.pth`` state dict, which is read
    with ``torch.load(weights_only=True)`` (never unpickled) and only after its sha256 is
    checked when ``sha256`` is given. The 1000-class head is skipped; every other key must
    load with matching shapes.

    Args:
        model: a classifier from :func:`build_lmaf_classifier`.
        path: the weights file.
        sha256: expected hex digest; required for ``.pth`` files.

    Returns:
        The keys left at their random initialisation (the new head).

    Raises:
        ModelLoadError: missing file, hash mismatch, ``.pth`` without a hash, or keys that
            do not fit the backbone.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"The initial weights file {p.name} does not exist.")
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    if sha256 is not None and digest != sha256.lower():
        raise ModelLoadError(f"The initial weights file {p.name} does not match its sha256.")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(p), device="cpu")
    else:
        if sha256 is None:
            raise ModelLoadError("A .pth initial weights file needs its sha256 (--init-sha256).")
        state = torch.load(str(p), map_location="cpu", weights_only=True)
    head = set(_classifier_head_keys(model))
    own = model.state_dict()
    filtered = {k: v for k, v in state.items() if k not in head and k in own}
    bad = [k for k, v in filtered.items() if tuple(v.shape) != tuple(own[k].shape)]
    missing = [
        k
        for k in own
        if k not in filtered and k not in head and not k.endswith("num_batches_tracked")
    ]
    if bad or missing:
        raise ModelLoadError(
            f"The initial weights do not fit this backbone ({len(bad)} shape mismatches, "
            f"{len(missing)} missing keys)."
        )
    model.load_state_dict(filtered, strict=False)
    logger.info("initialised %d tensors from %s (sha256 %s)", len(filtered), p.name, digest)
    return sorted(head)
