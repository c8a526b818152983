"""The domain gate: card entries, header rules, feature distance, and both pipelines."""

from __future__ import annotations

import numpy as np
import pytest

from ankle_core.errors import ModelLoadError
from ankle_core.models.domain import (
    NOT_DECLARED,
    PHANTOM_MANUFACTURER,
    ModelDomain,
    check_domain,
    feature_distance,
    feature_stats,
    is_phantom_header,
)

SYNTHETIC = {
    "kind": "synthetic",
    "description": "synthetic ankle radiograph phantoms",
    "modalities": ["DX", "CR"],
    "body_regions": ["ANKLE"],
}
PHANTOM_HEADER = {"modality": "DX", "body_part": "ANKLE", "manufacturer": PHANTOM_MANUFACTURER}


def _domain(entry: dict[str, object]) -> ModelDomain:
    domain = ModelDomain.from_card(entry)
    assert domain is not None
    return domain


def test_a_card_without_a_domain_is_not_gated() -> None:
    assert ModelDomain.from_card({}) is None
    check = check_domain(None, {"modality": "CT"})
    assert check.in_domain and check.reason == NOT_DECLARED
    withheld = check_domain(None, {}, extra_reasons=["this does not look like an ankle CT"])
    assert not withheld.in_domain and "ankle CT" in withheld.reason


def test_the_phantom_marker_matches_the_phantom_writer() -> None:
    import inspect

    from ankle_core.phantoms import writers

    # one constant: the gate reads the very marker the writer writes
    assert PHANTOM_MANUFACTURER is writers.PHANTOM_MANUFACTURER
    assert "ds.Manufacturer = PHANTOM_MANUFACTURER" in inspect.getsource(writers)
    assert is_phantom_header(PHANTOM_HEADER) and not is_phantom_header({"manufacturer": "X"})


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ({"modality": "CT", "manufacturer": PHANTOM_MANUFACTURER}, "modality is CT"),
        ({"modality": "DX", "body_part": "CHEST", "manufacturer": PHANTOM_MANUFACTURER}, "CHEST"),
        ({"modality": "CR", "body_part": "ANKLE", "manufacturer": "ACME"}, "synthetic phantoms"),
    ],
)
def test_header_rules_put_a_real_or_foreign_image_out_of_domain(
    header: dict[str, str], words: str
) -> None:
    check = check_domain(_domain(SYNTHETIC), header, model="m")
    assert not check.in_domain
    assert check.reason.startswith("Out of domain:") and words in check.reason


def test_a_phantom_header_is_in_a_synthetic_domain_and_out_of_a_real_one() -> None:
    assert check_domain(_domain(SYNTHETIC), PHANTOM_HEADER).in_domain
    real = _domain({**SYNTHETIC, "kind": "real"})
    check = check_domain(real, PHANTOM_HEADER)
    assert not check.in_domain and "synthetic phantom" in check.reason
    assert check_domain(real, {"modality": "DX", "body_part": "ANKLE"}).in_domain


def test_files_without_a_header_are_judged_on_their_features() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 16))
    stats = feature_stats(train, extractor="x", threshold=2.0, chosen_on="test")
    domain = _domain({**SYNTHETIC, "features": stats.to_dict()})
    near = check_domain(domain, {}, train[0])
    assert near.in_domain and near.distance is not None and near.distance < 2.0
    far = check_domain(domain, {}, train[0] + 10.0)
    assert not far.in_domain and "feature distance" in far.reason and far.threshold == 2.0


def test_feature_distance_is_the_rms_z_score() -> None:
    assert feature_distance([0.0, 0.0], [0.0, 0.0], [1.0, 1.0]) == 0.0
    assert feature_distance([3.0, 4.0], [0.0, 0.0], [1.0, 2.0]) == pytest.approx(np.sqrt(6.5))
    with pytest.raises(ValueError, match="feature size"):
        feature_distance([1.0], [0.0, 0.0], [1.0, 1.0])


def test_a_malformed_domain_entry_is_a_model_load_error() -> None:
    with pytest.raises(ModelLoadError, match="domain"):
        ModelDomain.from_card({"kind": "imaginary"})
    with pytest.raises(ModelLoadError, match="domain"):
        ModelDomain.from_card({"kind": "real", "features": {"mean": [1, 2], "std": [1]}})
