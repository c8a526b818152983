"""A card's task comes from a closed set; models are picked by task, not by substrings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ankle_core.errors import ModelLoadError
from ankle_core.models.card import ModelCard, ModelTask, models_for_task, read_card

MODELS = Path(__file__).resolve().parents[3] / "models"


def _card(name: str, task: str, dims: int = 2) -> ModelCard:
    return ModelCard(name, "0.0.1", "x", task, dims, ("a", "b"), (8, 8))


def test_every_committed_card_has_a_known_task() -> None:
    cards = [read_card(p) for p in sorted(MODELS.glob("*/card.json"))]
    assert len(cards) >= 4
    assert all(isinstance(c.task, ModelTask) for c in cards)
    assert {c.task for c in cards} >= {ModelTask.FRAGMENT_DETECTION, ModelTask.CT_FRACTURE}


def test_an_unknown_task_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="lmaf-vs-sfo"):
        _card("m", "segmentation")
    card = json.loads((MODELS / "lmaf-fragment-detector" / "card.json").read_text())
    card["task"] = "detect-things"
    (tmp_path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="Unknown model task 'detect-things'"):
        read_card(tmp_path)


def test_models_for_task_and_round_trip() -> None:
    cards = {
        "det": _card("det", "fragment-detection"),
        "loc": _card("loc", "fracture-localisation"),
        "clf": _card("clf", "lmaf-vs-sfo"),
        "ct": _card("ct", "ct-fracture", 3),
    }
    assert models_for_task(cards, ModelTask.FRAGMENT_DETECTION) == ["det"]
    assert models_for_task(cards, ModelTask.CT_FRACTURE, spatial_dims=2) == []
    assert models_for_task(cards.items(), ModelTask.LMAF_VS_SFO) == ["clf"]
    back = ModelCard.from_dict(json.loads(json.dumps(cards["ct"].to_dict())))
    assert back == cards["ct"] and back.to_dict()["task"] == "ct-fracture"
