"""Network builders, ImageNet initialisation, weights integrity and the detector's split
inference (core + shared post-processing) against torchvision's own forward."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ankle_core.errors import ModelLoadError, UnknownModelError, WeightsIntegrityError
from ankle_core.models import build_network, load_model
from ankle_core.models.classifier2d import (
    BACKBONES,
    CLASSIFIER_BACKBONES,
    backbone_of,
    build_lmaf_classifier,
    cam_layer,
    load_imagenet_weights,
)
from ankle_core.models.detector import (
    DetectorCore,
    build_fragment_detector,
    decode_detections,
    prepare_detector_input,
)

from .conftest import TINY_DETECTOR_PARAMS, tiny_classifier_card


@pytest.mark.parametrize("backbone", CLASSIFIER_BACKBONES)
def test_classifier_backbones_share_one_interface(backbone: str) -> None:
    card = tiny_classifier_card(backbone)
    net = build_network(card).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 3, 32, 32)).shape == (2, 2)
    assert any(p is not None for p in cam_layer(net).parameters())
    # one table entry knows the network: its type, its head and its input channels
    entry = backbone_of(net)
    assert entry is BACKBONES[backbone]
    head = net.get_submodule(entry.head)
    assert isinstance(head, torch.nn.Linear) and head.out_features == 2
    first = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == entry.in_channels
    # the explained block is the last one with spatial extent: its output is a 4D feature map
    seen: list[torch.Size] = []
    handle = cam_layer(net).register_forward_hook(lambda _m, _i, o: seen.append(o.shape))
    try:
        with torch.no_grad():
            net(torch.rand(1, 3, 64, 64))
    finally:
        handle.remove()
    assert len(seen) == 1 and len(seen[0]) == 4 and seen[0][-1] == 2  # stride 32 on 64 px


def test_unknown_backbones_are_refused() -> None:
    with pytest.raises(ModelLoadError, match="mobilenet_v2"):
        build_lmaf_classifier("vgg16")
    with pytest.raises(ModelLoadError):
        build_fragment_detector(backbone="vgg16_fpn")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_imagenet_init_from_pth_and_safetensors(tmp_path: Path) -> None:
    torch.manual_seed(1)
    donor = build_lmaf_classifier("mobilenet_v2", num_classes=1000).state_dict()
    pth, st = tmp_path / "mnv2.pth", tmp_path / "mnv2.safetensors"
    torch.save(donor, pth)
    save_file({k: v.contiguous() for k, v in donor.items()}, str(st))
    for path in (pth, st):
        model = build_lmaf_classifier("mobilenet_v2")
        head = load_imagenet_weights(model, path, sha256=_sha(path))
        assert head == ["classifier.1.bias", "classifier.1.weight"]
        w = model.state_dict()["features.0.0.weight"]
        assert torch.equal(w, donor["features.0.0.weight"])


def test_imagenet_init_refuses_bad_hash_and_unhashed_pth(tmp_path: Path) -> None:
    pth = tmp_path / "w.pth"
    torch.save(build_lmaf_classifier("mobilenet_v2").state_dict(), pth)
    model = build_lmaf_classifier("mobilenet_v2")
    with pytest.raises(ModelLoadError, match="sha256"):
        load_imagenet_weights(model, pth, sha256="0" * 64)
    with pytest.raises(ModelLoadError, match="sha256"):
        load_imagenet_weights(model, pth)
    with pytest.raises(ModelLoadError, match="do not fit"):
        load_imagenet_weights(build_lmaf_classifier("resnet50"), pth, sha256=_sha(pth))


def test_tampered_weights_are_refused(tiny_models_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "tiny-detector"
    shutil.copytree(tiny_models_dir / "tiny-detector", copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError):
        load_model(copy, device="cpu")


def test_unknown_model_lists_valid_names(tiny_models_dir: Path) -> None:
    with pytest.raises(UnknownModelError, match="tiny-detector"):
        load_model("no-such-model", models_dir=tiny_models_dir)


def test_detector_levels_are_p3_to_p7() -> None:
    model = build_fragment_detector(**TINY_DETECTOR_PARAMS).eval()  # type: ignore[arg-type]
    core = DetectorCore(model)
    with torch.no_grad():
        out = core(torch.rand(1, 3, 128, 128))
    strides = [128 // o.shape[-1] for o in out[:5]]
    assert strides == [8, 16, 32, 64, 128]
    assert out[0].shape[1] == 9 * 2 and out[5].shape[1] == 9 * 4


def test_resnet50_fpn_configuration_builds() -> None:
    model = build_fragment_detector(backbone="resnet50_fpn", long_side=64).eval()
    assert sum(p.numel() for p in model.parameters()) > 30e6
    with torch.no_grad():
        out = DetectorCore(model)(torch.rand(1, 3, 64, 64))
    assert len(out) == 10


def test_split_inference_matches_torchvision_forward() -> None:
    torch.manual_seed(0)
    model = build_fragment_detector(**TINY_DETECTOR_PARAMS).eval()  # type: ignore[arg-type]
    pixels = np.random.default_rng(0).random((192, 192)).astype(np.float32)
    prepared = prepare_detector_input(pixels, model)
    assert prepared.tensor.shape == (1, 3, 96, 96) and prepared.scale == 0.5
    with torch.no_grad():
        ref = model([torch.from_numpy(pixels)[None].expand(3, -1, -1)])[0]
        ours = decode_detections(DetectorCore(model)(prepared.tensor), model, prepared)
    assert len(ours) == len(ref["boxes"]) > 0
    np.testing.assert_allclose(ours.boxes, ref["boxes"].numpy(), atol=1e-3)
    np.testing.assert_allclose(ours.scores, ref["scores"].numpy(), atol=1e-6)


def test_anchor_refs_point_at_the_box_logit() -> None:
    torch.manual_seed(0)
    model = build_fragment_detector(**TINY_DETECTOR_PARAMS).eval()  # type: ignore[arg-type]
    pixels = np.random.default_rng(1).random((96, 80)).astype(np.float32)
    prepared = prepare_detector_input(pixels, model)
    with torch.no_grad():
        out = DetectorCore(model)(prepared.tensor)
    dets = decode_detections(out, model, prepared)
    for (level, channel, row, col), score in zip(dets.anchor_refs, dets.scores, strict=True):
        assert torch.sigmoid(out[level][0, channel, row, col]).item() == pytest.approx(score)
