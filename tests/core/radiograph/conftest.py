"""Tiny radiograph models and phantom cases for the radiograph-pipeline tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ankle_core.device import configure_threads
from ankle_core.models.card import ModelCard, OperatingPoints
from ankle_core.models.classifier2d import build_lmaf_classifier
from ankle_core.models.detector import build_fragment_detector
from ankle_core.models.weights import LoadedModel, load_model, save_model
from ankle_core.types import Radiograph

TINY_DETECTOR_PARAMS = {
    "backbone": "mobilenet_v3_large_fpn",
    "num_classes": 2,
    "long_side": 96,
    "fpn_channels": 32,
    "width_mult": 0.5,
    "score_thresh": 0.0,
    "norm_groups": 4,
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    configure_threads(threads=1)


def tiny_detector_card(**params: object) -> ModelCard:
    return ModelCard(
        name="tiny-detector",
        version="0.0.1",
        architecture="retinanet_fragment",
        task="fragment-detection",
        spatial_dims=2,
        labels=("background", "fragment"),
        input_size=(96, 96),
        architecture_params={**TINY_DETECTOR_PARAMS, **params},
        operating_points=OperatingPoints(0.0, 0.0, 0.0, "test"),
    )


def tiny_classifier_card(backbone: str = "mobilenet_v2", mode: str = "grey3") -> ModelCard:
    return ModelCard(
        name=f"tiny-{backbone}",
        version="0.0.1",
        architecture="lmaf_classifier",
        task="lmaf-vs-sfo",
        spatial_dims=2,
        labels=("sfo", "lmaf"),
        input_size=(64, 64),
        preprocessing={"context_margin": 0.5, "channel_mode": mode},
        architecture_params={"backbone": backbone, "num_classes": 2},
        operating_points=OperatingPoints(0.5, 0.3, 0.7, "test"),
    )


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with a tiny detector and a tiny MobileNetV2 classifier."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    det = build_fragment_detector(**TINY_DETECTOR_PARAMS)  # type: ignore[arg-type]
    save_model(det, tiny_detector_card(), root / "tiny-detector", half=False)
    clf = build_lmaf_classifier("mobilenet_v2")
    torch.nn.init.normal_(clf.classifier[1].weight, std=0.5)  # away from p = 0.5 everywhere
    save_model(clf, tiny_classifier_card(), root / "tiny-mobilenet_v2", half=False)
    return root


@pytest.fixture(scope="session")
def tiny_detector(tiny_models_dir: Path) -> LoadedModel:
    return load_model("tiny-detector", models_dir=tiny_models_dir, device="cpu")


@pytest.fixture(scope="session")
def tiny_classifier(tiny_models_dir: Path) -> LoadedModel:
    return load_model("tiny-mobilenet_v2", models_dir=tiny_models_dir, device="cpu")


@pytest.fixture(scope="session")
def phantom() -> Radiograph:
    """A small LMAF phantom radiograph (128 x 128, spacing known)."""
    from ankle_core.phantoms import make_case

    return make_case(3, "lmaf", size=128).radiograph


@pytest.fixture()
def grey_image() -> Radiograph:
    rng = np.random.default_rng(0)
    return Radiograph(rng.random((80, 112)).astype(np.float32), pixel_spacing_mm=(0.2, 0.25))
