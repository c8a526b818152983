"""The radiological signs are drawn, and the classes overlap (no trivial AUC of 1.0)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.core.phantoms.features import FragmentFeatures, fragment_features


def test_sfo_rim_brighter_than_centre_lmaf_not(
    features_20: dict[str, list[FragmentFeatures]],
) -> None:
    sfo = np.array([f.rim_contrast for f in features_20["sfo"]])
    lmaf = np.array([f.rim_contrast for f in features_20["lmaf"]])
    assert sfo.mean() > 0.0
    assert lmaf.mean() < 0.0
    assert (sfo > 0).mean() > 0.5 > (lmaf > 0).mean()


def test_sfo_rounder_than_lmaf(features_20: dict[str, list[FragmentFeatures]]) -> None:
    sfo = np.mean([f.circularity for f in features_20["sfo"]])
    lmaf = np.mean([f.circularity for f in features_20["lmaf"]])
    assert sfo > lmaf


@pytest.mark.slow
def test_hand_crafted_feature_separates_but_not_trivially() -> None:
    n = 60
    feats = [fragment_features(1000 + s, "lmaf") for s in range(n)]
    feats += [fragment_features(1000 + s, "sfo") for s in range(n)]
    y = [0] * n + [1] * n
    rim_auc = roc_auc_score(y, [f.rim_contrast for f in feats])
    circ_auc = roc_auc_score(y, [f.circularity for f in feats])
    assert 0.6 < rim_auc < 0.98
    assert 0.55 < circ_auc < 0.98
