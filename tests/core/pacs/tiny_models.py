"""Tiny random-weight models for the PACS tests (saved with ``save_model``; nothing downloaded).

The detector's threshold is 0, so it always reports a few boxes: the reports then carry
fragments. Only their plumbing is tested here, not their accuracy.
"""

from __future__ import annotations

from pathlib import Path

from ankle_core.models.card import ModelCard, OperatingPoints
from ankle_core.models.registry import build_network
from ankle_core.models.weights import save_model

DETECTOR = "lmaf-fragment-detector"
CLASSIFIER = "lmaf-classifier-mobilenetv2"
CT_MODEL = "ct-fracture-mobilenet3d"
_TRAINING = {"data": "none: random weights for tests", "synthetic": True}


def _save(card: ModelCard, out: Path) -> None:
    import torch

    torch.manual_seed(0)
    save_model(build_network(card), card, out / card.name)


def make_tiny_models(out: Path) -> Path:
    """Write a tiny detector, classifier and CT model under ``out``; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    _save(
        ModelCard(
            name=DETECTOR,
            version="0.0.1-test",
            architecture="retinanet_fragment",
            task="fragment-detection",
            spatial_dims=2,
            labels=("background", "fragment"),
            input_size=(128, 128),
            architecture_params={
                "fpn_channels": 32,
                "width_mult": 0.25,
                "long_side": 256,
                "score_thresh": 0.0,
                "detections_per_img": 2,
            },
            operating_points=OperatingPoints(0.0, 0.0, 0.0, "tests"),
            training=_TRAINING,
        ),
        out,
    )
    _save(
        ModelCard(
            name=CLASSIFIER,
            version="0.0.1-test",
            architecture="lmaf_classifier",
            task="lmaf-vs-sfo",
            spatial_dims=2,
            labels=("SFO", "LMAF"),
            input_size=(64, 64),
            architecture_params={"backbone": "mobilenet_v2", "num_classes": 2},
            operating_points=OperatingPoints(0.5, 0.3, 0.7, "tests"),
            training=_TRAINING,
        ),
        out,
    )
    _save(
        ModelCard(
            name=CT_MODEL,
            version="0.0.1-test",
            architecture="ct_mobilenet3d",
            task="ct-fracture",
            spatial_dims=3,
            labels=("no fracture", "fracture"),
            input_size=(32, 32, 32),
            architecture_params={"width_mult": 0.25, "last_channel": 64},
            operating_points=OperatingPoints(0.5, 0.3, 0.7, "tests"),
            training=_TRAINING,
        ),
        out,
    )
    return out
