"""Regenerate ``docs/screenshots/`` (one per page) with the demo models and demo cases.

Skipped unless ``ANKLE_DOCS_SCREENSHOTS=1``:

    ANKLE_DOCS_SCREENSHOTS=1 python -m pytest tests/app/browser/test_docs_screenshots.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.app.browser.conftest import REPO, TIMEOUT_MS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("ANKLE_DOCS_SCREENSHOTS") != "1", reason="set ANKLE_DOCS_SCREENSHOTS=1"
    ),
]
OUT = REPO / "docs" / "screenshots"


def _shot(page: Page, name: str, height: int, top: Locator | None = None) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": height})
    if top is not None:  # scroll so that this element is at the top of the picture
        top.evaluate("e => e.scrollIntoView({block: 'start'})")
    expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0, timeout=TIMEOUT_MS)
    history = page.locator('[data-testid="stSidebar"] [data-testid="stExpander"] summary p')
    if history.count():  # expander labels render lazily
        expect(history.first).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_timeout(2500)  # let Plotly finish its transitions
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def _demo(page: Page, url: str, heading: str, option: str | None = None) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_text("Demo case", exact=True).click()
    if option is not None:
        page.locator('[data-testid="stSelectbox"]', has_text="Bundled demo case").click()
        page.get_by_role("option", name=re.compile(option)).click()


def test_screenshot_radiograph(page: Page, demo_app_url: str) -> None:
    _demo(page, f"{demo_app_url}/", "Radiograph case", "case_01")
    expect(page.get_by_text("Case call:")).to_be_visible(timeout=TIMEOUT_MS)
    assert _shot(page, "radiograph", 1000).stat().st_size > 10_000


def test_screenshot_ct(page: Page, demo_app_url: str) -> None:
    _demo(page, f"{demo_app_url}/ct_volume", "CT case")
    expect(page.get_by_text("Fracture probability")).to_be_visible(timeout=TIMEOUT_MS)
    top = page.get_by_text("Fracture probability").first
    assert _shot(page, "ct_volume", 1000, top).stat().st_size > 10_000


def test_screenshot_cohort(page: Page, demo_app_url: str) -> None:
    page.goto(f"{demo_app_url}/cohort")
    expect(page.get_by_role("heading", name="Cohort performance")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Run").click()
    legend = page.locator('[data-testid="stPlotlyChart"] .legendtext', has_text="AUC")
    expect(legend.first).to_be_visible(timeout=TIMEOUT_MS)
    top = page.locator('[data-testid="stHorizontalBlock"]', has_text="Truth column").first
    assert _shot(page, "cohort", 1000, top).stat().st_size > 10_000


def test_screenshot_models(page: Page, demo_app_url: str) -> None:
    page.goto(f"{demo_app_url}/models")
    expect(page.get_by_role("heading", name="Models")).to_be_visible(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stExpander"] summary').first.click()
    expect(page.get_by_text("Intended use.").first).to_be_visible(timeout=TIMEOUT_MS)
    assert _shot(page, "models", 1000).stat().st_size > 10_000
