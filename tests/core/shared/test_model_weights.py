"""Model cards and hash-checked safetensors weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from ankle_core.errors import ModelLoadError, UnknownModelError, WeightsIntegrityError
from ankle_core.models import ModelCard, OperatingPoints, list_models, load_model, save_model
from ankle_core.models.card import read_card
from ankle_core.models.registry import register_architecture


@register_architecture("test_tiny_linear")
def _tiny(in_features: int = 4) -> nn.Module:
    return nn.Sequential(nn.Linear(in_features, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def _card(**overrides: object) -> ModelCard:
    fields: dict[str, object] = {
        "name": "tiny",
        "version": "0.0.1",
        "architecture": "test_tiny_linear",
        "task": "lmaf-vs-sfo",
        "spatial_dims": 0,
        "labels": ("neg", "pos"),
        "input_size": (4,),
        "architecture_params": {"in_features": 4},
        "operating_points": OperatingPoints(0.5, 0.2, 0.8, "validation"),
    }
    fields.update(overrides)
    return ModelCard(**fields)  # type: ignore[arg-type]


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[Path, nn.Module]:
    torch.manual_seed(0)
    net = _tiny().eval()
    save_model(net, _card(), tmp_path / "tiny", half=False)
    return tmp_path, net


def test_round_trip_gives_the_same_outputs(saved: tuple[Path, nn.Module]) -> None:
    models_dir, net = saved
    loaded = load_model("tiny", models_dir=models_dir, device="cpu")
    x = torch.randn(5, 4)
    assert torch.allclose(loaded.network(x), net(x), atol=1e-6)
    assert loaded.card.operating_points.high_specificity == 0.8
    assert not any(p.requires_grad for p in loaded.network.parameters())
    assert list_models(models_dir) == ["tiny"]


def test_fp16_storage_halves_the_file_and_loads_as_float32(tmp_path: Path) -> None:
    net = _tiny(in_features=64).eval()
    full = save_model(
        net, _card(architecture_params={"in_features": 64}), tmp_path / "a", half=False
    )
    half = save_model(
        net, _card(architecture_params={"in_features": 64}), tmp_path / "b", half=True
    )
    assert half.weights_dtype == "float16" and full.weights_dtype == "float32"
    size_a = (tmp_path / "a" / "model.safetensors").stat().st_size
    size_b = (tmp_path / "b" / "model.safetensors").stat().st_size
    assert size_b < 0.75 * size_a
    loaded = load_model(tmp_path / "b", device="cpu")
    assert all(p.dtype == torch.float32 for p in loaded.network.parameters())


def test_tampered_weights_are_refused(saved: tuple[Path, nn.Module]) -> None:
    models_dir, _ = saved
    weights = models_dir / "tiny" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        load_model("tiny", models_dir=models_dir, device="cpu")


def test_card_without_hash_is_refused(saved: tuple[Path, nn.Module]) -> None:
    models_dir, _ = saved
    card_path = models_dir / "tiny" / "card.json"
    data = json.loads(card_path.read_text())
    data["weights_sha256"] = ""
    card_path.write_text(json.dumps(data))
    with pytest.raises(WeightsIntegrityError):
        load_model("tiny", models_dir=models_dir, device="cpu")


def test_unknown_name_lists_valid_names(saved: tuple[Path, nn.Module]) -> None:
    models_dir, _ = saved
    with pytest.raises(UnknownModelError, match="Valid names: tiny"):
        load_model("nope", models_dir=models_dir)


def test_malformed_card_is_a_model_load_error(tmp_path: Path) -> None:
    (tmp_path / "card.json").write_text('{"name": "x"}')
    with pytest.raises(ModelLoadError, match="malformed"):
        read_card(tmp_path)


def test_operating_points_must_be_ordered() -> None:
    with pytest.raises(ModelLoadError):
        OperatingPoints(default=0.5, high_sensitivity=0.9, high_specificity=0.1)
