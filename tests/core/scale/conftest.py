"""Fixtures of the archive-scale tests: the tiny models of the radiograph and CT tests, and
folders of exported phantoms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.ct.conftest import tiny_model_dir
from tests.core.radiograph.conftest import tiny_models_dir

__all__ = ["tiny_model_dir", "tiny_models_dir"]


@pytest.fixture(scope="session")
def radiograph_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten exported phantom radiographs (128 px) and one corrupt file."""
    from ankle_core.phantoms import export_dataset

    root = tmp_path_factory.mktemp("xr")
    export_dataset(root, 10, "radiograph", seed=11, size=128)
    folder = root / "radiographs"
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return folder


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One local 2-CPU Ray cluster for every in-process Ray run of the session."""
    ray = pytest.importorskip("ray")
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
        logging_level="WARNING",
    )  # fmt: skip
    yield
    ray.shutdown()
