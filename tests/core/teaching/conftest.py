"""Fixtures of the teaching tests: a migrated in-memory store and tiny study cases."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from ankle_core.store import CaseStore, StudyStore
from ankle_core.store.studies import StudyCase


def png_bytes(seed: int, size: int = 32) -> bytes:
    """A tiny random greyscale PNG."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def study_store() -> StudyStore:
    """A study store on a fresh in-memory SQLite database at the newest revision."""
    return StudyStore(CaseStore.from_url("sqlite://").engine)


@pytest.fixture
def four_cases() -> list[StudyCase]:
    """Two LMAF and two non-LMAF tiny cases."""
    labels = ["lmaf", "sfo", "lmaf", "none"]
    out = []
    for i, label in enumerate(labels):
        data = png_bytes(i)
        out.append(
            StudyCase(
                f"c{i}.png",
                label,
                int(label == "lmaf"),
                "test",
                hashlib.sha256(data).hexdigest(),
                data,
            )
        )
    return out
