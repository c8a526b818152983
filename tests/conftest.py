"""Settings shared by every test: CPU threads, hypothesis profile, shared-data location."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parent.parent
#: ``../shared`` beside the checkout (real data for tests); CI clones with it beside the repo.
SHARED_DIR = REPO_ROOT.parent / "shared"

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist, give each worker one torch thread so two workers share two cores.

    Every test process (each xdist worker too) gets its own, empty site manifest of trusted
    weights (tiny models saved by tests are recorded there), so the checkout's ``data/`` is
    never written and workers never share the file.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    folder = tempfile.mkdtemp(prefix=f"ankle-trusted-{worker}-")
    os.environ["ANKLE_TRUSTED_WEIGHTS"] = str(Path(folder) / "trusted_weights.json")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's ``../shared`` folder; tests needing it skip when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared (real data) is not beside this checkout")
    return SHARED_DIR
