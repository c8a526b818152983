"""Seed ensembles of the heat-map localiser (``centernet_mobilenet_v2``, ``members`` k).

Tiny random networks (width 16, 64 px input): k = 1 keeps the single model's layout, a
k = 2 network built from two single models outputs their mean and round-trips through the
safetensors model folder with its hash check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ankle_core.models.card import ModelCard
from ankle_core.models.fracture_heatmap import (
    FROZEN_BLOCKS,
    FractureHeatmapNet,
    build_fracture_heatmap_net,
    merge_member_states,
)
from ankle_core.models.weights import load_model, save_model

#: The single model's top-level modules (the committed 1.x weights use exactly these).
_SINGLE_MODULES = {
    "features",
    "lat3",
    "lat4",
    "lat5",
    "tower",
    "heat",
    "size",
    "offset",
    "image_fc",
}


def _single(seed: int, trunk: FractureHeatmapNet | None = None) -> FractureHeatmapNet:
    torch.manual_seed(seed)
    net = build_fracture_heatmap_net(width=16, input_side=64)
    if trunk is not None:  # members share the frozen (ImageNet) trunk
        net.features[:FROZEN_BLOCKS].load_state_dict(trunk.features[:FROZEN_BLOCKS].state_dict())
    return net.eval()


def _card(members: int) -> ModelCard:
    return ModelCard(
        name="tiny-ensemble",
        version="0.0.1",
        architecture="centernet_mobilenet_v2",
        task="fracture-localisation",
        spatial_dims=2,
        labels=("no fracture", "fracture"),
        input_size=(64, 64),
        architecture_params={"width": 16, "input_side": 64, "members": members},
    )


def test_one_member_keeps_the_single_model_layout() -> None:
    net = build_fracture_heatmap_net(width=16, input_side=64)
    default = build_fracture_heatmap_net(width=16, input_side=64, members=1)
    keys = list(net.state_dict())
    assert keys == list(default.state_dict())
    assert {k.split(".")[0] for k in keys} == _SINGLE_MODULES
    assert net.members == 1


def test_two_members_output_the_mean_of_their_members() -> None:
    a = _single(0)
    b = _single(1, trunk=a)
    ens = build_fracture_heatmap_net(width=16, input_side=64, members=2).eval()
    ens.load_state_dict(merge_member_states([a.state_dict(), b.state_dict()]))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        outs_a, outs_b, outs = a(x), b(x), ens(x)
    assert ens.members == 2
    for ya, yb, y in zip(outs_a, outs_b, outs, strict=True):
        assert y.shape == ya.shape
        assert torch.allclose(y, (ya + yb) / 2, atol=1e-5)
    assert not torch.allclose(outs_a[0], outs_b[0])  # two different members were averaged


def test_merge_rejects_members_on_another_frozen_trunk() -> None:
    a, b = _single(0), _single(1)
    with pytest.raises(ValueError, match="frozen trunk"):
        merge_member_states([a.state_dict(), b.state_dict()])
    with pytest.raises(ValueError):
        merge_member_states([])
    with pytest.raises(ValueError, match="members"):
        build_fracture_heatmap_net(members=0)


def test_ensemble_round_trips_through_safetensors_with_its_hash(tmp_path: Path) -> None:
    a = _single(0)
    b = _single(1, trunk=a)
    ens = build_fracture_heatmap_net(width=16, input_side=64, members=2).eval()
    ens.load_state_dict(merge_member_states([a.state_dict(), b.state_dict()]))
    save_model(ens, _card(2), tmp_path / "tiny-ensemble", half=False)
    loaded = load_model(tmp_path / "tiny-ensemble", device="cpu")
    net = loaded.network
    assert isinstance(net, FractureHeatmapNet) and net.members == 2
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for y0, y1 in zip(ens(x), net(x), strict=True):
            assert torch.equal(y0, y1)
    # the second member's own blocks are stored, not only the shared trunk
    assert any(k.startswith("extra_members.0.blocks.") for k in net.state_dict())


def test_image_score_rule_keeps_the_extremity_floor() -> None:
    from ankle_core.training.heatmap_localiser import choose_image_score

    aucs = {"image_head": 0.887, "max_box": 0.923, "mean": 0.913}
    extra = {"image_head": 0.911, "max_box": 0.749, "mean": 0.902}
    assert choose_image_score(aucs, extra, 0.85) == "mean"
    assert choose_image_score(aucs, extra, 0.0) == "max_box"
    assert choose_image_score(aucs, {}, 0.85) == "max_box"  # no extremity set: FracAtlas alone
    assert choose_image_score(aucs, extra, 0.99) == "max_box"  # none allowed: all compete
