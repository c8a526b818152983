"""The committed demo weights, on freshly generated phantoms (seeds never used in training
or in the card's own evaluation), meet floors set from their cards."""

from __future__ import annotations

import pytest

from ankle_core.config import PROJECT_ROOT
from ankle_core.models.card import SYNTHETIC_DISCLAIMER
from ankle_core.models.weights import list_models, load_model

MODELS = PROJECT_ROOT / "models"
NAMES = ("lmaf-fragment-detector", "lmaf-classifier-mobilenetv2", "lmaf-classifier-efficientnetb0")

pytestmark = pytest.mark.skipif(
    not set(NAMES) <= set(list_models(MODELS)), reason="demo weights not installed"
)


@pytest.mark.parametrize("name", NAMES)
def test_demo_cards_say_what_they_are(name: str) -> None:
    folder = MODELS / name
    assert (folder / "model.safetensors").stat().st_size < 25 * 1024 * 1024
    card = load_model(name, models_dir=MODELS, device="cpu").card  # hash checked
    assert card.intended_use == SYNTHETIC_DISCLAIMER
    assert card.weights_dtype == "float16"
    assert card.training["data"] == "synthetic phantoms"
    assert card.training["command"].startswith("python -m ankle_core.training")
    assert "fresh_phantoms" in card.metrics
    ops = card.operating_points
    assert ops.high_sensitivity <= ops.default <= ops.high_specificity


@pytest.mark.slow
def test_demo_weights_meet_the_card_floors_on_fresh_phantoms() -> None:
    from ankle_core.training.evaluate import evaluate_on_phantoms, phantom_cases

    det = load_model(NAMES[0], models_dir=MODELS, device="cpu")
    clf = load_model(NAMES[1], models_dir=MODELS, device="cpu")
    cases = phantom_cases(60, seed_start=2_000_000, size=384, difficulty=(0.3, 0.9))
    report = evaluate_on_phantoms(det, [clf], cases, seed=0)
    card_recall = det.card.metrics["fresh_phantoms"]["detector"]["recall_iou50"]
    card_auc = clf.card.metrics["fresh_phantoms"][NAMES[1]]["auc_at_true_boxes"]
    # floors: the card's lower 95% bound, less a margin for the smaller sample here
    assert report["detector"]["recall_iou50"]["value"] >= card_recall["ci95"][0] - 0.15
    auc = report[NAMES[1]]["auc_at_true_boxes"]["value"]
    assert auc >= max(0.6, card_auc["ci95"][0] - 0.10)
