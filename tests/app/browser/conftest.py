"""Real-browser fixtures: ``streamlit run app.py`` on 127.0.0.1 and Debian's Chromium.

The server runs on a free port with a fresh SQLite case history and the CPU: with tiny
random-weight models for the end-to-end checks, or the installed demo models for the docs
screenshots. Chromium is
driven by Playwright for Python with ``executable_path="/usr/bin/chromium"``
(``apt-get install -y chromium``; ``playwright install`` is not needed). Screenshots go to
``$ANKLE_ARTIFACTS_DIR`` or ``test-artifacts/browser/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app import fixtures
from ui.serve import running_dashboard

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("ANKLE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_MODELS = (fixtures.DETECTOR, fixtures.CLASSIFIER, fixtures.CT_MODEL)
#: Generous: the CI machine is small and shared, and the first analysis loads the models.
TIMEOUT_MS = 240_000
#: ``expect(...)`` assertions have their own 5 s default, too short on a loaded 2-core machine.
EXPECT_TIMEOUT_MS = 60_000


@pytest.fixture(autouse=True)
def _patient_expect() -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where screenshots and the server log go."""
    root = Path(os.environ.get("ANKLE_ARTIFACTS_DIR", REPO / "test-artifacts" / "browser"))
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def _server(models_dir: Path, tmp: Path, log_path: Path) -> Iterator[str]:
    """Run ``streamlit run app.py`` until the block ends; yields its base URL."""
    env = dict(os.environ)
    env.update(
        ANKLE_MODELS_DIR=str(models_dir),
        ANKLE_DATABASE_URL=f"sqlite:///{tmp / 'cases.sqlite'}",
        ANKLE_DEVICE="cpu",
        ANKLE_CACHE_DIR=str(tmp / "cache"),  # ONNX exports and phantoms, not in the checkout
        OMP_NUM_THREADS="1",
    )
    with running_dashboard("app.py", log_path=log_path, cwd=REPO, env=env) as url:
        yield url


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[str]:
    """The app with tiny random-weight models: deterministic plumbing (always 3 boxes)."""
    tmp = tmp_path_factory.mktemp("server")
    models = fixtures.make_tiny_models(tmp / "tiny-models")
    with _server(models, tmp, artifacts_dir / "streamlit-server.log") as url:
        yield url


@pytest.fixture(scope="session")
def demo_app_url(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[str]:
    """The app with the demo models (``$ANKLE_DEMO_MODELS_DIR`` or ``models/``), for docs."""
    from ankle_core.models.weights import list_models

    models = Path(os.environ.get("ANKLE_DEMO_MODELS_DIR", str(REPO / "models")))
    if not set(DEMO_MODELS) <= set(list_models(models)):
        pytest.skip(f"the demo models are not installed in {models}")
    tmp = tmp_path_factory.mktemp("demo-server")
    with _server(models, tmp, artifacts_dir / "streamlit-demo-server.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium through Playwright."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Chromium is absent: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, artifacts_dir: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A fresh browser context (= a new Streamlit session) and page; screenshot at the end."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    yield pg
    pg.screenshot(path=str(artifacts_dir / f"{request.node.name}.png"), full_page=True)
    context.close()
