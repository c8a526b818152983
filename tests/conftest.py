"""Settings shared by every test: CPU threads, hypothesis profile, shared-data location."""

from __future__ import annotations

import os
import shutil
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
    """Choose the threads before any test module imports torch (passive OpenMP waits).

    Under xdist the workers share the cores: each gets ``cores // workers`` threads (one
    each for two workers on two cores). An ``OMP_NUM_THREADS`` the user set wins.

    Every test process (each xdist worker too) gets its own, empty site manifest of trusted
    weights (tiny models saved by tests are recorded there), so the checkout's ``data/`` is
    never written and workers never share the file.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    folder = tempfile.mkdtemp(prefix=f"ankle-trusted-{worker}-")
    os.environ["ANKLE_TRUSTED_WEIGHTS"] = str(Path(folder) / "trusted_weights.json")
    from ankle_core.device import configure_threads

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    configure_threads(max(1, workers))
    # ONNX exports and phantoms the code under test keeps go to a throw-away folder, never
    # into the checkout's .cache/ (the CLIs and the app default to it)
    if "ANKLE_CACHE_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="ankle-test-cache-")
        os.environ["ANKLE_CACHE_DIR"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's ``../shared`` folder; tests needing it skip when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared (real data) is not beside this checkout")
    return SHARED_DIR
