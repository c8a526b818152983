"""Seed ensembles of the heat-map localiser (``centernet_mobilenet_v2``, ``members`` k).

Tiny random networks (width 16, 64 px input): k = 1 keeps the single model's layout, a
k = 2 network built from two single models outputs their mean and round-trips through the
safetensors model folder with its hash check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ankle_core.errors import ModelLoadError
from ankle_core.explain.gradcam import CamMethod
from ankle_core.explain.heatmap import heatmap_gradcam
from ankle_core.models.card import ModelCard
from ankle_core.models.fracture_heatmap import (
    FROZEN_BLOCKS,
    FractureHeatmapNet,
    build_fracture_heatmap_net,
    merge_member_states,
    score_member_state,
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


def _single(
    seed: int, trunk: FractureHeatmapNet | None = None, frozen: int = FROZEN_BLOCKS
) -> FractureHeatmapNet:
    torch.manual_seed(seed)
    net = build_fracture_heatmap_net(width=16, input_side=64, frozen_blocks=frozen)
    if trunk is not None:  # members share the frozen (ImageNet) trunk
        net.features[:frozen].load_state_dict(trunk.features[:frozen].state_dict())
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


def test_a_frozen_stem_ensemble_owns_blocks_7_to_13_per_member(tmp_path: Path) -> None:
    """frozen_blocks 7: each member has its own c4; outputs, Grad-CAM and storage follow."""
    a = _single(0, frozen=7)
    b = _single(1, trunk=a, frozen=7)
    assert not torch.equal(a.features[7].conv[0][0].weight, b.features[7].conv[0][0].weight)
    assert {
        n.split(".")[1] for n, p in a.named_parameters() if p.requires_grad and "features" in n
    } == {str(i) for i in range(7, 18)}
    with pytest.raises(ValueError, match="frozen trunk"):  # blocks 0-6 must be shared
        merge_member_states([a.state_dict(), _single(1, frozen=7).state_dict()], 7)
    state = merge_member_states([a.state_dict(), b.state_dict()], 7)
    assert "extra_members.0.blocks.7.conv.0.0.weight" in state
    ens = build_fracture_heatmap_net(width=16, input_side=64, members=2, frozen_blocks=7).eval()
    ens.load_state_dict(state)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        outs_a, outs_b, outs = a(x), b(x), ens(x)
        c3, c4a = ens.frozen_maps(x)
        assert all(  # cached-map evaluation: c4a is ignored, each member makes its own
            torch.allclose(u, v, atol=1e-6)
            for u, v in zip(ens.heads(c3, None), ens.heads(c3, c4a * 0), strict=True)
        )
    for ya, yb, y in zip(outs_a, outs_b, outs, strict=True):
        assert torch.allclose(y, (ya + yb) / 2, atol=1e-5)
    # a frozen-trunk (14) run can join as a member: its ImageNet blocks 7-13 come along
    mixed = merge_member_states([a.state_dict(), _single(2, trunk=a).state_dict()], 7)
    ens.load_state_dict(mixed)
    assert len(ens.member_c4s(c3, None)) == 2
    cam = heatmap_gradcam(ens, x[:1], (3, 4), (64, 64), (80, 64))
    assert cam.shape == (80, 64) and float(cam.min()) >= 0.0 and float(cam.max()) <= 1.0
    card = _card(2)
    card = ModelCard(
        **{**card.__dict__, "architecture_params": {**card.architecture_params, "frozen_blocks": 7}}
    )
    save_model(ens, card, tmp_path / "tiny-stem", half=False)
    loaded = load_model(tmp_path / "tiny-stem", device="cpu").network
    assert isinstance(loaded, FractureHeatmapNet) and loaded.frozen_blocks == 7
    with torch.no_grad():
        assert torch.equal(loaded(x)[0], ens(x)[0])


@pytest.mark.parametrize("method", ["hirescam", "gradcam"])
def test_gradcam_of_a_frozen_stem_ensemble_averages_its_members(method: CamMethod) -> None:
    a = _single(0, frozen=7)
    b = _single(1, trunk=a, frozen=7)
    ens = build_fracture_heatmap_net(width=16, input_side=64, members=2, frozen_blocks=7).eval()
    ens.load_state_dict(merge_member_states([a.state_dict(), b.state_dict()], 7))
    x = torch.randn(1, 3, 64, 64)
    cell = (2, 5)
    cam = heatmap_gradcam(ens, x, cell, (64, 64), (64, 64), method=method)
    # by hand: each member's map on its own c4, of the mean heat map, averaged, normalised;
    # HiResCAM weighs each activation by its own gradient, Grad-CAM by its channel's mean
    c3 = ens.features[:7](x).detach()
    c4s = [m.detach().requires_grad_(True) for m in ens.member_c4s(c3, None)]
    heat = ens.heads_from_c4s(c3, c4s)[0]
    grads = torch.autograd.grad(heat[0, 0, cell[0], cell[1]], c4s)
    if method == "gradcam":
        grads = tuple(g.mean(dim=(2, 3), keepdim=True) for g in grads)
    maps = [
        torch.relu((g * m.detach()).sum(dim=1, keepdim=True))
        for g, m in zip(grads, c4s, strict=True)
    ]
    assert not torch.allclose(maps[0], maps[1])  # two different members
    want = torch.nn.functional.interpolate(
        (maps[0] + maps[1]) / 2, size=(64, 64), mode="bilinear", align_corners=False
    )[0, 0]
    want = (want / want.max()).numpy()
    assert abs(cam - want).max() < 1e-4
    one = heatmap_gradcam(ens, x, cell, (64, 64), (64, 64), method=method)
    assert (one == cam).all()  # the network was not changed by the explanation


def test_the_default_map_is_hirescam_and_stays_near_its_peak() -> None:
    """HiResCAM keeps the map where the gradient of the explained cell is; Grad-CAM's channel
    means spread it wherever those channels fire."""
    net = _single(0)
    x = torch.randn(1, 3, 128, 128)
    cell = (2, 2)  # a corner cell of the 16 x 16 heat map
    hires = heatmap_gradcam(net, x, cell, (128, 128), (128, 128))
    assert (hires == heatmap_gradcam(net, x, cell, (128, 128), (128, 128), "hirescam")).all()
    grad = heatmap_gradcam(net, x, cell, (128, 128), (128, 128), "gradcam")
    near = (slice(0, 64), slice(0, 64))  # the quarter of the image around the cell
    assert hires[near].sum() / hires.sum() > grad[near].sum() / grad.sum()
    with pytest.raises(ValueError, match="method"):
        heatmap_gradcam(net, x, cell, (128, 128), (128, 128), "mean")


def test_frozen_blocks_is_checked() -> None:
    with pytest.raises(ValueError, match="frozen_blocks"):
        build_fracture_heatmap_net(frozen_blocks=10)
    with pytest.raises(ValueError, match="frozen_blocks"):
        merge_member_states([_single(0).state_dict()], 3)
    with pytest.raises(ValueError, match="c4a"):
        _single(0).heads(torch.zeros(1, 32, 8, 8), None)


def _with_score_members(
    frozen: int = FROZEN_BLOCKS, score_frozen: int = 7
) -> tuple[FractureHeatmapNet, FractureHeatmapNet, FractureHeatmapNet]:
    """A box ensemble of two members plus two score members; they share only the stem."""
    a = _single(0, frozen=frozen)
    b = _single(1, trunk=a, frozen=frozen)
    other = _single(9, trunk=a, frozen=7)  # the stem of a, blocks 7-13 of its own
    s0 = _single(2, trunk=other, frozen=score_frozen)
    s1 = _single(3, trunk=other, frozen=score_frozen)
    box_state = merge_member_states([a.state_dict(), b.state_dict()], frozen)
    score_state = merge_member_states([s0.state_dict(), s1.state_dict()], score_frozen)
    box = build_fracture_heatmap_net(width=16, input_side=64, members=2, frozen_blocks=frozen)
    box.load_state_dict(box_state)
    scorer = build_fracture_heatmap_net(
        width=16, input_side=64, members=2, frozen_blocks=score_frozen
    )
    scorer.load_state_dict(score_state)
    both = build_fracture_heatmap_net(
        width=16,
        input_side=64,
        members=2,
        frozen_blocks=frozen,
        score_members=2,
        score_frozen_blocks=score_frozen,
    )
    both.load_state_dict(score_member_state(box_state, score_state))
    return box.eval(), scorer.eval(), both.eval()


@pytest.mark.parametrize(("frozen", "score_frozen"), [(14, 7), (7, 7), (14, 14)])
def test_score_members_add_an_image_score_and_leave_the_boxes(
    frozen: int, score_frozen: int
) -> None:
    """(14, 14): the score members' frozen blocks 7-13 differ from the box members' ones."""
    box, scorer, both = _with_score_members(frozen, score_frozen)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        want, mine, theirs = box(x), both(x), scorer(x)
    assert len(want) == 4 and len(mine) == 5
    for u, v in zip(want, mine[:4], strict=True):  # boxes, sizes, offsets, image logit
        assert torch.equal(u, v)
    heat, _, _, logit = theirs
    by_hand = (torch.sigmoid(logit) + torch.sigmoid(heat.flatten(1).amax(dim=1))) / 2
    assert mine[4].shape == (2,)
    assert torch.allclose(mine[4], by_hand, atol=1e-6)
    # the Grad-CAM of a box is the box ensemble's alone
    cam_box = heatmap_gradcam(box, x[:1], (3, 4), (64, 64), (64, 64))
    cam_both = heatmap_gradcam(both, x[:1], (3, 4), (64, 64), (64, 64))
    assert abs(cam_box - cam_both).max() < 1e-6


def test_score_members_must_share_the_stem() -> None:
    a = _single(0)
    stranger = _single(5, frozen=7)  # its own random stem
    with pytest.raises(ValueError, match="stem"):
        score_member_state(a.state_dict(), stranger.state_dict())
    state = score_member_state(a.state_dict(), _single(5, trunk=a, frozen=7).state_dict())
    assert "score_net.features.7.conv.0.0.weight" in state
    with pytest.raises(ValueError, match="score_members"):
        build_fracture_heatmap_net(score_members=-1)
    with pytest.raises(ValueError, match="no score members"):
        a.score_members_score(torch.zeros(1, 32, 8, 8))


def test_localiser_offers_the_score_members_rule_and_checks_the_card(tmp_path: Path) -> None:
    import numpy as np

    from ankle_core.inference.localiser import FractureLocaliser
    from ankle_core.types import Radiograph

    _, _, both = _with_score_members()
    params = {
        "width": 16,
        "input_side": 64,
        "members": 2,
        "score_members": 2,
        "score_frozen_blocks": 7,
    }
    card = ModelCard(
        **{
            **_card(2).__dict__,
            "architecture_params": params,
            "explanation": {"image_score": "mean_with_score_members", "box_threshold": 0.0},
        }
    )
    save_model(both, card, tmp_path / "tiny-score", half=False)
    radiograph = Radiograph(np.random.default_rng(0).random((50, 64)).astype(np.float32))
    result = FractureLocaliser(load_model(tmp_path / "tiny-score", device="cpu")).run(radiograph)
    rules = result.rule_scores
    assert set(rules) == {
        "image_head",
        "max_box",
        "mean",
        "score_members",
        "mean_with_score_members",
    }
    assert rules["mean"] == pytest.approx((rules["image_head"] + rules["max_box"]) / 2)
    assert rules["mean_with_score_members"] == pytest.approx(
        (rules["mean"] + rules["score_members"]) / 2
    )
    assert result.image_score == rules["mean_with_score_members"]
    # the map of a box: HiResCAM unless Grad-CAM is asked for
    loc = FractureLocaliser(load_model(tmp_path / "tiny-score", device="cpu"), threshold=0.0)
    assert loc.saliency_method == "hirescam"
    default = loc.saliency(radiograph, 0)
    assert np.array_equal(default, loc.saliency(radiograph, 0, "hirescam"))
    assert not np.array_equal(default, loc.saliency(radiograph, 0, "gradcam"))
    # a card that asks a network without score members for their rule is refused on loading
    plain = ModelCard(**{**card.__dict__, "architecture_params": _card(2).architecture_params})
    box, _, _ = _with_score_members()
    save_model(box, plain, tmp_path / "tiny-plain", half=False)
    with pytest.raises(ModelLoadError, match="mean_with_score_members"):
        FractureLocaliser(load_model(tmp_path / "tiny-plain", device="cpu"))
