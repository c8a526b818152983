"""The Grad-CAM core: shapes in 2D and 3D, callable targets, no hooks left, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from torch import nn

from ankle_core.explain.gradcam import count_hooks, grad_cam, normalize01, upsample_cam


def _tiny_net(dims: int) -> nn.Sequential:
    conv = nn.Conv2d if dims == 2 else nn.Conv3d
    pool = nn.AdaptiveAvgPool2d if dims == 2 else nn.AdaptiveAvgPool3d
    torch.manual_seed(0)
    net = nn.Sequential(conv(1, 4, 3, padding=1), nn.ReLU(), pool(1), nn.Flatten(), nn.Linear(4, 2))
    return net.eval()


@pytest.mark.parametrize("dims,shape", [(2, (2, 1, 16, 16)), (3, (1, 1, 8, 12, 12))])
def test_gradcam_has_the_layer_shape_and_leaves_no_hooks(dims: int, shape: tuple[int, ...]) -> None:
    net = _tiny_net(dims)
    cam = grad_cam(net, torch.rand(shape), net[0], target=1)
    assert tuple(cam.shape) == (shape[0], *shape[2:])
    assert (cam >= 0).all()
    assert count_hooks(net) == 0


def test_callable_target_equals_class_index() -> None:
    net = _tiny_net(2)
    x = torch.rand(2, 1, 16, 16)
    by_index = grad_cam(net, x, net[0], target=0)
    by_callable = grad_cam(net, x, net[0], target=lambda out: out[:, 0])
    assert torch.allclose(by_index, by_callable)


def test_hooks_are_removed_even_when_the_target_fails() -> None:
    net = _tiny_net(2)

    def broken(_: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        grad_cam(net, torch.rand(1, 1, 8, 8), net[0], target=broken)
    assert count_hooks(net) == 0


def test_shared_model_explained_from_threads_matches_serial() -> None:
    net = _tiny_net(2)
    inputs = [
        torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(8)
    ]
    serial = [grad_cam(net, x, net[0], target=1) for x in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda x: grad_cam(net, x, net[0], target=1), inputs))
    assert all(torch.allclose(a, b) for a, b in zip(serial, threaded, strict=True))
    assert count_hooks(net) == 0


def test_upsample_cam_reaches_the_exact_shape_in_unit_range() -> None:
    cam = np.zeros((2, 3, 3), np.float32)
    cam[1, 1, 1] = 5.0
    up = upsample_cam(cam, (7, 10, 11), order=3)
    assert up.shape == (7, 10, 11)
    assert up.min() >= 0.0 and up.max() == pytest.approx(1.0)
    peak = np.unravel_index(np.argmax(up), up.shape)
    assert 3 <= peak[1] <= 6 and 3 <= peak[2] <= 7


def test_normalize01_of_constant_map_is_zero() -> None:
    assert not normalize01(np.ones((3, 3))).any()


def _max_pool_net() -> nn.Sequential:
    """Identity conv, global MAX pool, one logit: only the hottest cell decides the score."""
    conv = nn.Conv3d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    return nn.Sequential(conv, nn.AdaptiveMaxPool3d(1), nn.Flatten(), nn.Linear(1, 1)).eval()


def test_hirescam_keeps_where_the_gradient_flows_and_gradcam_spreads_it() -> None:
    net = _max_pool_net()
    x = torch.full((1, 1, 6, 6, 6), 0.5)
    x[0, 0, 2, 3, 4] = 2.0  # the cell that wins the max pool
    target = lambda out: out[:, 0]  # noqa: E731
    with torch.no_grad():
        net[3].weight.fill_(1.0)
    hires = grad_cam(net, x, net[0], target, method="hirescam")[0]
    grad = grad_cam(net, x, net[0], target, method="gradcam")[0]
    assert int((hires > 0).sum()) == 1 and float(hires[2, 3, 4]) == pytest.approx(2.0)
    # Grad-CAM averages the gradient over space first: every active cell gets weight.
    assert int((grad > 0).sum()) == 6**3
    assert count_hooks(net) == 0


def test_an_unknown_cam_method_is_refused() -> None:
    net = _tiny_net(2)
    with pytest.raises(ValueError, match="method"):
        grad_cam(net, torch.rand(1, 1, 8, 8), net[0], 0, method="scorecam")  # type: ignore[arg-type]
