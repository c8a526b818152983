"""The cohort page's FracAtlas AUC equals the lower-limb model card's validation AUC.

The page scores the card's ``val_files`` by reading each JPEG through
``ankle_core.io.read_radiograph`` and ``FractureLocaliser.run`` (``ui/cohort.py``); the card's
figure was computed at export from the trainer's own image loader. The two readers round
grey values differently, so scores differ in their last digits and the AUCs may differ in
the fourth decimal; a wrong image list, label or score would move it by far more.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ankle_core.config import PROJECT_ROOT
from ankle_core.inference import LEG_LOCALISER_NAME, FractureLocaliser
from ankle_core.io import read_radiograph
from ankle_core.models.weights import load_model
from ankle_core.realdata.fracatlas import FRACATLAS
from ankle_core.realdata.sources import find_real_data
from ankle_core.realdata.validation_cohort import cohort_frame, validation_cohort

MODEL = PROJECT_ROOT / "models" / LEG_LOCALISER_NAME


@pytest.mark.slow
def test_page_cohort_auc_is_the_cards_validation_auc() -> None:
    root = find_real_data(FRACATLAS)
    if root is None or not (MODEL / "model.safetensors").is_file():
        pytest.skip("fracatlas-leg data or the committed model is missing")
    loaded = load_model(MODEL, device="cpu")
    card = loaded.card
    cohort = validation_cohort(root, {card.name: card.training})
    assert sorted(im.name for im in cohort.images) == sorted(card.training["splits"]["val_files"])
    localiser = FractureLocaliser(loaded)
    scores = {
        im.name: float(localiser.run(read_radiograph(im.path.read_bytes())).image_score)
        for im in cohort.images
    }
    frame = cohort_frame(cohort, {card.name: scores})
    truth = frame["truth"].to_numpy()
    assert int(truth.sum()) == card.metrics["val"]["image_auc"]["n_positive_images"]
    auc = roc_auc_score(truth, frame[card.name].to_numpy())
    assert np.isclose(auc, card.metrics["val"]["image_auc"]["value"], atol=0.002)
