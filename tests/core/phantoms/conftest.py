"""Fixtures of the phantom tests."""

from __future__ import annotations

import pytest

from tests.core.phantoms.features import FragmentFeatures, fragment_features


@pytest.fixture(scope="session")
def features_20() -> dict[str, list[FragmentFeatures]]:
    """Features of 20 LMAF and 20 SFO cases at 512 px, difficulty 0.5."""
    return {kind: [fragment_features(500 + s, kind) for s in range(20)] for kind in ("lmaf", "sfo")}
