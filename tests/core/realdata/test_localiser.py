"""The general fracture localiser: card round trip through the registry, inference, ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ankle_core.inference.localiser import FractureLocaliser
from ankle_core.models.card import ModelCard, OperatingPoints
from ankle_core.models.retinanet_localiser import build_fracture_localiser
from ankle_core.models.weights import LoadedModel, load_model, save_model
from ankle_core.training.retinanet_localiser import INTENDED_USE
from ankle_core.types import Radiograph

PARAMS = {"num_classes": 2, "long_side": 128, "score_thresh": 0.001}


@pytest.fixture(scope="module")
def tiny_localiser(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    torch.manual_seed(0)
    net = build_fracture_localiser(**PARAMS)  # type: ignore[arg-type]
    card = ModelCard(
        name="tiny-localiser",
        version="0.0.1",
        architecture="retinanet_mobilenet_v2_fpn",
        task="fracture-localisation",
        spatial_dims=2,
        labels=("background", "fracture"),
        input_size=(128, 128),
        architecture_params=PARAMS,
        operating_points=OperatingPoints(0.0, 0.0, 0.5, "test"),
        intended_use=INTENDED_USE,
    )
    out: Path = tmp_path_factory.mktemp("models") / "tiny-localiser"
    save_model(net, card, out, half=True)
    return load_model(out, device="cpu")


def _radiograph(spacing: tuple[float, float] | None = (0.2, 0.1)) -> Radiograph:
    rng = np.random.default_rng(0)
    px = np.clip(rng.normal(0.4, 0.1, (150, 100)), 0, 1).astype(np.float32)
    return Radiograph(px, spacing)


def test_card_loads_through_the_registry(tiny_localiser: LoadedModel) -> None:
    assert tiny_localiser.card.architecture == "retinanet_mobilenet_v2_fpn"
    assert "not been validated on ankles" in tiny_localiser.card.intended_use.lower()
    assert "CC BY 4.0" in tiny_localiser.card.intended_use
    assert not any(p.requires_grad for p in tiny_localiser.network.parameters())


def test_run_returns_sorted_boxes_in_pixels_and_mm(tiny_localiser: LoadedModel) -> None:
    result = FractureLocaliser(tiny_localiser).run(_radiograph())
    assert result.boxes, "an untrained head at threshold 0 still proposes boxes"
    scores = [f.score for f in result.boxes]
    assert scores == sorted(scores, reverse=True)
    assert result.image_score == pytest.approx(scores[0])
    for f in result.boxes:
        assert 0 <= f.box.x0 < f.box.x1 <= 100 + 1e-3 and 0 <= f.box.y0 < f.box.y1 <= 150 + 1e-3
        assert f.box_mm == pytest.approx(
            (f.box.x0 * 0.1, f.box.y0 * 0.2, f.box.x1 * 0.1, f.box.y1 * 0.2)
        )
    assert set(result.timings_s) == {"prepare", "network", "decode", "total"}
    none = FractureLocaliser(tiny_localiser, threshold=1.1).run(_radiograph(None))
    assert none.boxes == () and none.image_score > 0


def test_bad_runtime(tiny_localiser: LoadedModel) -> None:
    with pytest.raises(ValueError, match="runtime"):
        FractureLocaliser(tiny_localiser, runtime="tensorrt")


@pytest.mark.slow
def test_onnx_gives_the_same_boxes(tiny_localiser: LoadedModel, tmp_path: Path) -> None:
    image = _radiograph()
    a = FractureLocaliser(tiny_localiser).run(image)
    b = FractureLocaliser(tiny_localiser, runtime="onnx", onnx_cache_dir=tmp_path).run(image)
    assert len(a.boxes) == len(b.boxes)
    assert np.allclose(
        [f.box.as_xyxy() for f in a.boxes], [f.box.as_xyxy() for f in b.boxes], atol=0.05
    )
    assert list(tmp_path.glob("*.onnx"))


@pytest.mark.slow
def test_detector_saliency_explains_a_localiser_box(tiny_localiser: LoadedModel) -> None:
    from ankle_core.explain.radiograph import detector_saliency

    image = _radiograph()
    heat = detector_saliency(tiny_localiser, image, 0)
    assert heat.shape == (150, 100) and float(heat.min()) >= 0 and float(heat.max()) <= 1
    # through the localiser: Grad-CAM, its only method
    loc = FractureLocaliser(tiny_localiser)
    assert loc.saliency_method == "gradcam"
    assert np.array_equal(loc.saliency(image, 0), loc.saliency(image, 0, "gradcam"))
    with pytest.raises(ValueError, match="Grad-CAM only"):
        loc.saliency(image, 0, "hirescam")
