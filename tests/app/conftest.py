"""Fixtures of the dashboard tests: tiny models, tiny phantom inputs, an isolated app env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app import fixtures

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with a tiny detector, classifier and CT model (random weights)."""
    from ankle_core.device import configure_threads

    configure_threads(threads=1)  # the test machine is small and shared
    return fixtures.make_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's cache folder for the session (ONNX exports, phantoms), outside the checkout."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ``demo_cases`` folder: one radiograph PNG and one NIfTI volume."""
    root = tmp_path_factory.mktemp("demo_cases")
    (root / "radiograph").mkdir()
    (root / "radiograph" / "lmaf_demo.png").write_bytes(fixtures.radiograph_png())
    (root / "ct").mkdir()
    (root / "ct" / "fractured_demo.nii.gz").write_bytes(fixtures.volume_nifti())
    return root


@pytest.fixture
def app_env(
    tiny_models_dir: Path,
    demo_dir: Path,
    cache_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """Point the app at the tiny models, the tiny demos and a fresh SQLite case history."""
    import streamlit as st

    import ui.inputs

    env = {
        "ANKLE_MODELS_DIR": str(tiny_models_dir),
        "ANKLE_DATABASE_URL": f"sqlite:///{tmp_path / 'cases.sqlite'}",
        "ANKLE_DEVICE": "cpu",
        "ANKLE_CACHE_DIR": str(cache_dir),  # ONNX exports of the tiny models, per session
        "ANKLE_WARM_MODELS": "0",  # no background loading racing the test's own
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(ui.inputs, "DEMO_ROOT", demo_dir)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield env
    st.cache_resource.clear()
    st.cache_data.clear()
