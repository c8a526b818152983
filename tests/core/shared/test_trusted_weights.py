"""Trusted weights: hashes pinned outside the model folders, and the site's trust step."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from ankle_core.config import PROJECT_ROOT, Settings
from ankle_core.errors import WeightsIntegrityError
from ankle_core.models import load_model, save_model
from ankle_core.models.__main__ import main as models_cli
from ankle_core.models.card import read_card, write_card
from ankle_core.models.trust import COMMITTED_MANIFEST, read_manifest
from ankle_core.models.weights import CARD_FILE, WEIGHTS_FILE, list_models, sha256_file
from tests.core.shared.test_model_weights import _card, _tiny

MODELS = PROJECT_ROOT / "models"


def test_every_committed_model_is_pinned_in_the_committed_manifest() -> None:
    manifest = read_manifest(COMMITTED_MANIFEST)
    committed = {read_card(MODELS / n / CARD_FILE).name: MODELS / n for n in list_models(MODELS)}
    assert committed, "no committed models found"
    missing = sorted(set(committed) - set(manifest))
    assert not missing, f"add to {COMMITTED_MANIFEST.name}: python -m ankle_core.models entry"
    for name, folder in committed.items():
        assert manifest[name] == sha256_file(folder / WEIGHTS_FILE), name
    assert not sorted(set(manifest) - set(committed)), "manifest lists a model not committed"


def test_settings_read_the_site_manifest_path() -> None:
    settings = Settings.from_env({"ANKLE_TRUSTED_WEIGHTS": "/srv/site/trusted.json"})
    assert settings.trusted_weights_path == Path("/srv/site/trusted.json")


def _tampered_copy(tmp_path: Path) -> Path:
    """The bundled CT model with one weight byte changed and its card's hash edited to match."""
    folder = tmp_path / "ct-fracture-mobilenet3d"
    shutil.copytree(MODELS / "ct-fracture-mobilenet3d", folder)
    weights = folder / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-2] ^= 0x01  # inside the last tensor's data: still a valid safetensors file
    weights.write_bytes(bytes(data))
    card = read_card(folder / CARD_FILE)
    from dataclasses import replace

    write_card(replace(card, weights_sha256=sha256_file(weights)), folder / CARD_FILE)
    return folder


def test_editing_the_card_hash_does_not_bless_new_weights(tmp_path: Path) -> None:
    folder = _tampered_copy(tmp_path)
    site = tmp_path / "site.json"
    with pytest.raises(WeightsIntegrityError, match="not listed in the trusted-weights"):
        load_model(folder, device="cpu", site_manifest=site)
    # The untouched bundled model still loads from the committed manifest alone.
    assert load_model(MODELS / "ct-fracture-mobilenet3d", device="cpu", site_manifest=site)


def test_the_trust_step_admits_a_site_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site" / "trusted.json"
    torch.manual_seed(0)
    net: nn.Module = _tiny().eval()
    save_model(net, _card(name="site-tiny"), tmp_path / "site-tiny", half=False, trust=False)
    with pytest.raises(WeightsIntegrityError, match="trust"):
        load_model(tmp_path / "site-tiny", device="cpu", site_manifest=site)
    assert models_cli(["trust", str(tmp_path / "site-tiny"), "--manifest", str(site)]) == 0
    assert "trusted site-tiny" in capsys.readouterr().out
    loaded = load_model(tmp_path / "site-tiny", device="cpu", site_manifest=site)
    assert loaded.name == "site-tiny"
    assert json.loads(site.read_text())["models"]["site-tiny"] == loaded.card.weights_sha256


def test_the_trust_step_refuses_weights_that_do_not_match_their_card(tmp_path: Path) -> None:
    folder = _tampered_copy(tmp_path)
    (folder / WEIGHTS_FILE).write_bytes((folder / WEIGHTS_FILE).read_bytes()[:-8] + bytes(8))
    site = tmp_path / "site.json"
    assert models_cli(["trust", str(folder), "--manifest", str(site)]) == 2
    assert not site.exists()


def test_save_model_records_what_it_saves_in_the_site_manifest(tmp_path: Path) -> None:
    site = tmp_path / "trusted.json"
    written = save_model(
        _tiny().eval(), _card(name="trained-here"), tmp_path / "m", site_manifest=site
    )
    assert read_manifest(site) == {"trained-here": written.weights_sha256}
    assert load_model(tmp_path / "m", device="cpu", site_manifest=site).name == "trained-here"


def test_entry_prints_the_committed_manifest_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert models_cli(["entry", str(MODELS / "lmaf-classifier-mobilenetv2")]) == 0
    line = capsys.readouterr().out.strip()
    name, digest = json.loads("{" + line.rstrip(",") + "}").popitem()
    assert read_manifest(COMMITTED_MANIFEST)[name] == digest
