"""The committed lower-limb localiser: its card's figures recomputed from the weights.

Runs the committed ``fracatlas-leg-localiser`` on the card's fixed check subset of
FracAtlas validation images (8 fractured, 8 not) and compares the image scores, the AUC and
the fractures found among the top 5 boxes with what the card recorded at export.
"""

from __future__ import annotations

import numpy as np
import pytest

from ankle_core.config import PROJECT_ROOT
from ankle_core.inference import LEG_LOCALISER_NAME, FractureLocaliser
from ankle_core.models.weights import load_model
from ankle_core.realdata.fracatlas import FRACATLAS, read_fracatlas
from ankle_core.realdata.sources import find_real_data
from ankle_core.stats.detection import found_in_top_k
from ankle_core.training.heatmap_localiser import image_auc, load_pixels
from ankle_core.types import Radiograph

MODEL = PROJECT_ROOT / "models" / LEG_LOCALISER_NAME


@pytest.mark.slow
def test_card_figures_recompute_from_the_committed_weights() -> None:
    root = find_real_data(FRACATLAS)
    if root is None or not (MODEL / "model.safetensors").is_file():
        pytest.skip("fracatlas-leg data or the committed model is missing")
    loaded = load_model(MODEL, device="cpu")
    check = loaded.card.metrics["check_subset"]
    localiser = FractureLocaliser(loaded, threshold=0.0, max_boxes=20)
    info = {im.name: im for im in read_fracatlas(root)}
    scores, truth, boxes, box_scores, gt = [], [], [], [], []
    for name in check["files"]:
        result = localiser.run(Radiograph(load_pixels(info[name].path)))
        scores.append(result.image_score)
        truth.append(int(info[name].fractured))
        boxes.append(np.array([b.box.as_xyxy() for b in result.boxes]).reshape(-1, 4))
        box_scores.append(np.array([b.score for b in result.boxes]))
        gt.append(np.array([b.as_xyxy() for b in info[name].boxes]).reshape(-1, 4))
    assert np.allclose(scores, check["image_scores"], atol=2e-3)
    assert image_auc(np.array(scores), np.array(truth)) == pytest.approx(check["auc"], abs=0.02)
    assert list(found_in_top_k(boxes, box_scores, gt, 5, 0.3)) == check["found_top5_iou03"]
    assert "FracAtlas" in loaded.card.training["credit"]
    assert loaded.card.weights_dtype == "float16"
    assert (MODEL / "model.safetensors").stat().st_size < 25 * 2**20
