"""Grad-CAM (and HiResCAM) for 2D and 3D networks, built on Captum's layer attributions.

Two class-activation maps of one layer ``A`` (K channels) for a target score ``y``:

- **Grad-CAM** (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
  Gradient-based Localization"; Captum ``LayerGradCam``): each channel is weighted by its
  spatially averaged gradient, ``ReLU(sum_k mean(dy/dA_k) * A_k)``. The reference paper's method.
- **HiResCAM** (Draelos & Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful
  explanations of convolutional neural networks"; Captum ``LayerGradientXActivation`` summed
  over channels): the gradient multiplies the activation element-wise before the channel
  sum, ``ReLU(sum_k dy/dA_k * A_k)``. Without the spatial average it keeps *where* the
  gradient flows: behind a global max pool, only the cells that won the pooling. It is
  sharper on such networks, and it is what the demo CT model's card recommends.

The same functions serve 2D radiograph classifiers, detector boxes and 3D CT networks: the
spatial dimensionality comes from the layer's output.

Guarantees:

- **No hook outlives a call.** Captum registers its hooks inside ``attribute`` and removes
  them in ``finally``; :func:`count_hooks` lets tests check it.
- **Thread safety.** A shared (cached) model is explained under a per-model lock, so two
  sessions explaining the same network never interleave their hooks.
- **Targets are callables or class indices.** A callable receives the model output and
  returns one score per example (shape ``(N,)``), e.g. the class score of one detector box.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from captum.attr import LayerGradCam, LayerGradientXActivation
from scipy import ndimage
from torch import nn

__all__ = [
    "CAM_METHODS",
    "CamMethod",
    "Target",
    "count_hooks",
    "grad_cam",
    "model_lock",
    "normalize01",
    "upsample_cam",
]

#: ``"gradcam"`` (channel weights = averaged gradients) or ``"hirescam"`` (element-wise).
CamMethod = Literal["gradcam", "hirescam"]
CAM_METHODS: tuple[CamMethod, ...] = ("gradcam", "hirescam")

#: A class index, or a callable mapping the model output to one score per example.
Target = int | Callable[[Any], torch.Tensor]

_locks: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The lock that serialises explanations (and other hook users) of ``model``."""
    with _locks_guard:
        lock = _locks.get(model)
        if lock is None:
            lock = threading.RLock()
            _locks[model] = lock
        return lock


def count_hooks(model: nn.Module) -> int:
    """Number of forward, pre-forward and backward hooks registered anywhere in ``model``."""
    total = 0
    for module in model.modules():
        total += len(module._forward_hooks) + len(module._forward_pre_hooks)
        total += len(module._backward_hooks) + len(getattr(module, "_backward_pre_hooks", {}))
    return total


def grad_cam(
    model: nn.Module,
    inputs: torch.Tensor,
    layer: nn.Module,
    target: Target,
    *,
    relu: bool = True,
    method: CamMethod = "gradcam",
) -> torch.Tensor:
    """Grad-CAM (or HiResCAM) of ``layer`` for ``target``, at the layer's own resolution.

    Args:
        model: network in eval mode; its parameters may have ``requires_grad=False``.
        inputs: (N, C, *spatial) input batch on the model's device.
        layer: a convolutional block of ``model`` whose output is (N, K, *spatial_l).
        target: a class index of the output logits, or a callable returning one score per
            example from the model output (for detectors and custom heads).
        relu: keep only positive evidence, as in the original paper.
        method: ``"gradcam"`` or ``"hirescam"`` (see the module docstring).

    Returns:
        (N, *spatial_l) float32 tensor on the CPU, not normalised.
    """
    if isinstance(target, int):
        forward: Callable[..., Any] = model
        captum_target: int | None = target
    else:
        score_fn = target

        def forward(x: torch.Tensor) -> torch.Tensor:
            return score_fn(model(x)).reshape(x.shape[0])

        captum_target = None
    if method not in CAM_METHODS:
        raise ValueError(f"method must be one of {CAM_METHODS}, got {method!r}.")
    with model_lock(model), torch.enable_grad():
        if method == "gradcam":
            cam = LayerGradCam(forward, layer).attribute(
                inputs, target=captum_target, relu_attributions=relu
            )
        else:
            products = LayerGradientXActivation(forward, layer).attribute(
                inputs, target=captum_target
            )
            cam = products.sum(dim=1, keepdim=True)
            if relu:
                cam = torch.relu(cam)
    out: torch.Tensor = cam.detach().float().cpu()
    return out[:, 0] if out.ndim == inputs.ndim else out


def normalize01(array: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Scale to [0, 1]; a constant map becomes all zeros.

    >>> normalize01([1.0, 3.0]).tolist()
    [0.0, 1.0]
    """
    arr = np.asarray(array, dtype=np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo < 1e-12:
        return np.zeros_like(arr, dtype=np.float32)
    return ((arr - lo) / (hi - lo)).astype(np.float32)


def upsample_cam(
    cam: npt.ArrayLike, out_shape: Sequence[int], *, order: int = 3
) -> npt.NDArray[np.float32]:
    """Spline-zoom a coarse map to ``out_shape`` and normalise it to [0, 1].

    This is the reference paper's "spline interpolation zoom" (``scipy.ndimage.zoom``); it serves
    2D maps as well.

    Args:
        cam: (*spatial_l) map at the layer's resolution.
        out_shape: target shape, same number of dimensions.
        order: spline order, 0 to 5 (3 = cubic).

    Returns:
        float32 array of ``out_shape`` in [0, 1].
    """
    arr = np.asarray(cam, dtype=np.float32)
    if arr.ndim != len(out_shape):
        raise ValueError(f"cam has {arr.ndim} dims but out_shape has {len(out_shape)}.")
    factors = [o / s for o, s in zip(out_shape, arr.shape, strict=True)]
    zoomed = ndimage.zoom(arr, factors, order=order, mode="nearest", grid_mode=True)
    # zoom may be off by one voxel on some axes: crop or pad to the exact shape.
    slices = tuple(slice(0, o) for o in out_shape)
    zoomed = zoomed[slices]
    pad = [(0, o - z) for o, z in zip(out_shape, zoomed.shape, strict=True)]
    if any(p[1] > 0 for p in pad):
        zoomed = np.pad(zoomed, pad, mode="edge")
    return normalize01(np.clip(zoomed, 0.0, None))
