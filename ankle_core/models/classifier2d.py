"""Fragment classifiers (LMAF vs SFO): MobileNetV2 and three comparators behind one builder.

The reference paper's second stage is a MobileNetV2 that calls each detected fragment a
lateral malleolar avulsion fracture (LMAF, class 1) or a subfibular ossicle (SFO, class 0).
EfficientNet-B0, ResNet-50 and DenseNet-121 are its comparators. All four come from
torchvision with ``weights=None`` (nothing is ever downloaded); ImageNet initialisation is a
training option (:func:`load_imagenet_weights`) from a local, hash-checked file.

Cards use ``architecture="lmaf_classifier"`` and
``architecture_params={"backbone": "mobilenet_v2", "num_classes": 2}``. Each backbone is one
entry of :data:`BACKBONES` (builder, Grad-CAM layer, head, input channels): adding a backbone
is one entry there plus its card.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import torch
from torch import nn
from torchvision import models as tvm

from ankle_core.errors import ModelLoadError
from ankle_core.models.registry import register_architecture

__all__ = [
    "BACKBONES",
    "CLASSIFIER_BACKBONES",
    "ClassifierBackbone",
    "backbone_of",
    "build_lmaf_classifier",
    "cam_layer",
    "load_imagenet_weights",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifierBackbone:
    """Everything the library knows about one 2D classifier backbone: one table entry.

    Attributes:
        build: ``(num_classes, dropout) -> network`` with random weights (``weights=None``).
        network_type: the class of the built network (finds the entry of a built model).
        cam_layer: module path of the block Grad-CAM explains (the last convolutional block).
        head: module path of the last linear layer (left out of ImageNet initialisation).
        in_channels: input channels (ImageNet-normalised RGB crops).
    """

    build: Callable[[int, float], nn.Module]
    network_type: type[nn.Module]
    cam_layer: str
    head: str
    in_channels: int = 3


#: The 2D classifier backbones, by the name a card's ``architecture_params.backbone`` gives.
#: Adding a backbone is one entry here (plus its card).
BACKBONES: Mapping[str, ClassifierBackbone] = MappingProxyType(
    {
        "mobilenet_v2": ClassifierBackbone(
            lambda n, p: tvm.mobilenet_v2(weights=None, num_classes=n, dropout=p),
            tvm.MobileNetV2,
            cam_layer="features.18",
            head="classifier.1",
        ),
        "efficientnet_b0": ClassifierBackbone(
            lambda n, p: tvm.efficientnet_b0(weights=None, num_classes=n, dropout=p),
            tvm.EfficientNet,
            cam_layer="features.8",
            head="classifier.1",
        ),
        "resnet50": ClassifierBackbone(
            lambda n, p: tvm.resnet50(weights=None, num_classes=n),
            tvm.ResNet,
            cam_layer="layer4",
            head="fc",
        ),
        "densenet121": ClassifierBackbone(
            lambda n, p: tvm.densenet121(weights=None, num_classes=n),
            tvm.DenseNet,
            cam_layer="features.denseblock4",
            head="classifier",
        ),
    }
)

#: Backbones accepted by :func:`build_lmaf_classifier`.
CLASSIFIER_BACKBONES: tuple[str, ...] = tuple(BACKBONES)


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
    entry = BACKBONES.get(backbone)
    if entry is None:
        raise ModelLoadError(
            f"Unknown classifier backbone {backbone!r}; "
            f"choose one of {', '.join(CLASSIFIER_BACKBONES)}."
        )
    return entry.build(num_classes, dropout)


def backbone_of(model: nn.Module) -> ClassifierBackbone:
    """The table entry of a classifier built by :func:`build_lmaf_classifier`.

    Raises:
        ValueError: the model is not one of the supported classifiers.
    """
    for entry in BACKBONES.values():
        if isinstance(model, entry.network_type):
            return entry
    raise ValueError(f"Unsupported classifier {type(model).__name__}.")


def cam_layer(model: nn.Module) -> nn.Module:
    """The last convolutional block of a classifier built by :func:`build_lmaf_classifier`.

    This is the layer Grad-CAM explains (the entry's ``cam_layer``): MobileNetV2's and
    EfficientNet-B0's final conv block (``features[-1]``), ResNet-50's ``layer4`` and
    DenseNet-121's last dense block.

    Raises:
        ValueError: the model is not one of the supported classifiers.
    """
    return model.get_submodule(backbone_of(model).cam_layer)


def _classifier_head_keys(model: nn.Module) -> tuple[str, ...]:
    head = backbone_of(model).head
    return (f"{head}.weight", f"{head}.bias")


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
