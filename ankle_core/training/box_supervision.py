"""Box-supervised auxiliary loss for 3D classifiers: teach the explained block where fractures are.

A fracture label says *that* a volume is fractured, not *where*; a 3D CNN trained on labels
alone must find a thin fracture line somewhere in a 10^5-voxel cube, and on a CPU budget the
demo 3D MobileNet did not (docs/ct.md). Where the training table also gives the fracture's
box (``z0..x1`` columns of ``labels.csv``; the phantom exporter writes them), this loss adds
dense supervision, as in deep supervision (Lee et al. 2015) and guided attention (Li et al.
2018): a 1x1x1 convolution on the block that Grad-CAM explains
(:func:`ankle_core.explain.ct.gradcam_layer`) predicts, for every cell of that block's map,
whether the cell overlaps the box. Negative volumes teach "nowhere".

The auxiliary head exists during training only: the saved model is the plain classifier,
its inference and Grad-CAM unchanged. Volumes without a box (every negative, and positives
whose row has no box) contribute only their empty or skipped target: a positive without a
box is left out of the auxiliary loss.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType

import torch
from torch import nn
from torch.nn import functional as F

from ankle_core.explain.ct import gradcam_layer

__all__ = ["BoxSupervision"]


class BoxSupervision:
    """Hooked auxiliary head on a network's Grad-CAM block, with its loss.

    Use as a context manager around training so that the forward hook never outlives it::

        with BoxSupervision(network, input_size=48) as aux:
            logits = network(x)
            loss = ce(logits, y) + weight * aux.loss(masks, has_box)

    Args:
        network: a CT network from :mod:`ankle_core.models.cnn3d`.
        input_size: the model's input cube edge, voxels (chooses the block as Grad-CAM does).
        pos_weight: weight of positive cells in the binary cross-entropy (they are few).
    """

    def __init__(self, network: nn.Module, input_size: int, *, pos_weight: float = 10.0) -> None:
        self.layer_name, layer = gradcam_layer(network, input_size)
        channels = _out_channels(layer)
        self.head = nn.Conv3d(channels, 1, kernel_size=1)
        self.pos_weight = float(pos_weight)
        self._layer = layer
        self._features: torch.Tensor | None = None
        self._handle: torch.utils.hooks.RemovableHandle | None = None

    def parameters(self) -> Iterator[nn.Parameter]:
        """The auxiliary head's parameters (the network's own are not included)."""
        return self.head.parameters()

    def to(self, device: torch.device | str) -> BoxSupervision:
        """Move the auxiliary head to ``device``; returns self."""
        self.head.to(device)
        return self

    def __enter__(self) -> BoxSupervision:
        def keep(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            self._features = output

        self._handle = self._layer.register_forward_hook(keep)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.remove()
        self._handle = None
        self._features = None

    def loss(self, masks: torch.Tensor, use: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of the last forward pass's cell predictions.

        Args:
            masks: (N, 1, D, H, W) box masks on the input grid (0/1).
            use: (N,) bool: which samples take part (False for a positive without a box).

        Returns:
            Scalar loss (0 when no sample takes part).

        Raises:
            RuntimeError: no forward pass was recorded (outside the ``with`` block).
        """
        if self._features is None:
            raise RuntimeError("BoxSupervision.loss needs a forward pass inside its with-block.")
        logits = self.head(self._features)
        target = F.adaptive_max_pool3d(masks.to(logits.dtype), logits.shape[2:])
        if not bool(use.any()):
            zero: torch.Tensor = logits.sum() * 0.0
            return zero
        weight = torch.tensor(self.pos_weight, device=logits.device, dtype=logits.dtype)
        out: torch.Tensor = F.binary_cross_entropy_with_logits(
            logits[use], target[use], pos_weight=weight
        )
        return out


def _out_channels(layer: nn.Module) -> int:
    """Output channels of a block: those of its last convolution (or norm)."""
    last = None
    for module in layer.modules():
        if isinstance(module, nn.Conv3d):
            last = module.out_channels
        elif isinstance(module, nn.BatchNorm3d | nn.InstanceNorm3d) and module.num_features:
            last = module.num_features
    if last is None:
        raise ValueError(f"Cannot tell the output channels of {type(layer).__name__}.")
    return int(last)
