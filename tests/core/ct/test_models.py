"""The 3D CNN families: registry names, shapes, parameter counts, Grad-CAM stages."""

from __future__ import annotations

import pytest
import torch

from ankle_core.models.cnn3d import (
    build_ct_efficientnet,
    build_ct_mobilenet3d,
    build_ct_resnet,
    count_parameters,
    feature_stages,
)
from ankle_core.models.mobilenet3d import MobileNet
from ankle_core.models.registry import architectures


def test_families_are_registered() -> None:
    names = set(architectures())
    assert {"ct_mobilenet3d", "ct_resnet", "ct_efficientnet"} <= names


@pytest.mark.parametrize(
    ("build", "params"),
    [
        (build_ct_mobilenet3d, {"width_mult": 0.25}),
        (build_ct_efficientnet, {"variant": "b0"}),
        (build_ct_resnet, {"depth": 18}),
    ],
)
def test_forward_shape(build: object, params: dict[str, object]) -> None:
    torch.manual_seed(0)
    net = build(**params).eval()  # type: ignore[operator]
    with torch.no_grad():
        out = net(torch.zeros(2, 1, 32, 32, 32))
    assert out.shape == (2, 2)


def test_mobilenet_serves_2d_and_3d() -> None:
    net2d = MobileNet(spatial_dims=2, in_channels=1, num_classes=3, width_mult=0.25).eval()
    with torch.no_grad():
        assert net2d(torch.zeros(1, 1, 64, 64)).shape == (1, 3)
    assert isinstance(net2d.features[0][0], torch.nn.Conv2d)
    net3d = MobileNet(spatial_dims=3, width_mult=0.25)
    depthwise = net3d.features[2][0].conv[1][0]
    assert isinstance(depthwise, torch.nn.Conv3d) and depthwise.groups == depthwise.in_channels


def test_parameter_counts_match_the_documented_figures() -> None:
    # measured on the meta device: B7 is never materialised
    assert count_parameters(build_ct_mobilenet3d) == 2_354_882
    assert count_parameters(build_ct_mobilenet3d, width_mult=0.5) == 755_330
    assert count_parameters(build_ct_resnet, depth=101) == 85_209_154
    assert count_parameters(build_ct_efficientnet, variant="b7") == 68_764_114


def test_feature_stage_strides() -> None:
    mob = [(n, s) for n, _, s in feature_stages(build_ct_mobilenet3d(width_mult=0.25))]
    assert mob[3] == ("features.3", 8) and mob[-1] == ("features.8", 32)
    res = [(n, s) for n, _, s in feature_stages(build_ct_resnet(depth=18))]
    assert res == [("layer1", 2), ("layer2", 4), ("layer3", 8), ("layer4", 16)]
    eff = [s for _, _, s in feature_stages(build_ct_efficientnet(variant="b0"))]
    assert eff == [2, 4, 8, 16, 16, 32, 32]


def test_unknown_variants_are_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        build_ct_resnet(depth=20)
    with pytest.raises(ValueError, match="variant"):
        build_ct_efficientnet(variant="b9")


def test_mobilenet_global_max_pool_follows_the_strongest_local_evidence() -> None:
    from ankle_core.models.cnn3d import build_ct_mobilenet3d

    net = build_ct_mobilenet3d(width_mult=0.25, global_pool="max").eval()
    assert isinstance(net.pool, torch.nn.AdaptiveMaxPool3d)
    features = torch.zeros(1, net.classifier[1].in_features, 2, 2, 2)
    features[0, :, 1, 0, 1] = 3.0
    assert torch.equal(net.pool(features).flatten(), torch.full((features.shape[1],), 3.0))
    assert net(torch.zeros(2, 1, 32, 32, 32)).shape == (2, 2)
    with pytest.raises(ValueError, match="global_pool"):
        build_ct_mobilenet3d(global_pool="median")
