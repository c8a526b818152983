"""The domain gate's second cue: image statistics of the pixels alone, and the OR rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from ankle_core.errors import ModelLoadError
from ankle_core.models.card import read_card
from ankle_core.models.domain import ModelDomain, check_domain, feature_stats
from ankle_core.models.image_cues import FlatNoise, ImageCue, flat_noise, image_statistic

MODELS = Path(__file__).resolve().parents[3] / "models"
SYNTHETIC = {"kind": "synthetic", "description": "synthetic phantoms"}
CUES = [
    {"statistic": "flat-noise-level", "low": 0.005, "high": 0.05},
    {"statistic": "flat-noise-whiteness", "low": 0.9, "high": 1.3},
]


def _noisy(seed: int = 0, sd: float = 0.02, size: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.2, 0.6, size)[None, :] * np.ones((size, 1))
    return np.clip(ramp + rng.normal(0.0, sd, (size, size)), 0.0, 1.0)


def test_flat_noise_measures_white_noise_and_tells_it_from_correlated_or_none() -> None:
    white = flat_noise(_noisy(sd=0.02))
    assert white.level == pytest.approx(0.02, rel=0.15)
    assert 1.0 < white.whiteness < 1.25  # about 1; the tile choice biases it up a little
    correlated = flat_noise(ndimage.gaussian_filter(_noisy(sd=0.02), 1.0))
    assert correlated.whiteness < 0.5
    quantised = flat_noise(np.round(_noisy(sd=0.02) * 255) / 255)  # an 8-bit export
    assert quantised.whiteness == pytest.approx(white.whiteness, abs=0.05)
    assert flat_noise(np.full((64, 64), 0.3)) == FlatNoise(0.0, 0.0)  # no noise at all
    assert flat_noise(np.zeros((16, 16))).whiteness == 0.0  # smaller than one tile
    with pytest.raises(ValueError, match="H, W"):
        flat_noise(np.zeros((2, 8, 8)))
    assert image_statistic("flat-noise-level", _noisy()) == pytest.approx(white.level)


def test_a_cue_keeps_its_range_and_refuses_unknown_statistics() -> None:
    cue = ImageCue.from_dict(CUES[1])
    assert cue.contains(1.0) and not cue.contains(0.5) and not cue.contains(float("nan"))
    assert ImageCue.from_dict(cue.to_dict()) == cue
    with pytest.raises(ModelLoadError, match="unknown image statistic"):
        ModelDomain.from_card(
            {**SYNTHETIC, "image_cues": [{"statistic": "x", "low": 0, "high": 1}]}
        )
    with pytest.raises(ModelLoadError, match="above high"):
        ModelDomain.from_card({**SYNTHETIC, "image_cues": [{**CUES[0], "low": 1.0, "high": 0.0}]})


def test_the_gate_is_out_when_either_the_features_or_an_image_cue_says_so() -> None:
    rng = np.random.default_rng(1)
    train = rng.normal(size=(100, 8))
    stats = feature_stats(train, extractor="x", threshold=2.0, chosen_on="test")
    domain = ModelDomain.from_card({**SYNTHETIC, "features": stats.to_dict(), "image_cues": CUES})
    assert domain is not None and len(domain.image_cues) == 2
    phantom_like, smooth = _noisy(), ndimage.gaussian_filter(_noisy(), 1.5)
    near, far = train[0], train[0] + 10.0

    both_in = check_domain(domain, {}, near, pixels=phantom_like)
    assert both_in.in_domain and "image statistics" in both_in.reason
    assert dict(both_in.image_stats)["flat-noise-whiteness"] > 0.9

    cue_out = check_domain(domain, {}, near, pixels=smooth)
    assert not cue_out.in_domain
    assert "noise" in cue_out.reason and "feature distance" not in cue_out.reason

    features_out = check_domain(domain, {}, far, pixels=phantom_like)
    assert not features_out.in_domain
    assert "feature distance" in features_out.reason and "noise" not in features_out.reason

    both_out = check_domain(domain, {}, far, pixels=smooth)
    assert "feature distance" in both_out.reason and "noise" in both_out.reason
    assert "image_stats" in both_out.to_dict()
    # without pixels the cues are not applied (the CT pipeline, callers without an image)
    assert check_domain(domain, {}, near).in_domain


def test_the_committed_detector_card_keeps_phantoms_in_and_smooth_images_out() -> None:
    from ankle_core.phantoms import make_case

    domain = ModelDomain.from_card(read_card(MODELS / "lmaf-fragment-detector").domain)
    assert domain is not None and {c.statistic for c in domain.image_cues} == {
        "flat-noise-level",
        "flat-noise-whiteness",
    }
    for seed, size in ((11, 256), (12, 384)):
        pixels = make_case(seed, "lmaf", size=size, difficulty=0.5).radiograph.pixels
        assert check_domain(domain, {}, pixels=pixels).in_domain
        blurred = ndimage.gaussian_filter(pixels, 1.0)  # a smooth, real-looking image
        assert not check_domain(domain, {}, pixels=blurred).in_domain
