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
        page.keyboard.type(option)  # the list is long and drawn in part: filter it first
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


def test_screenshot_localiser(page: Page, demo_app_url: str) -> None:
    # case_04: the localiser's boxes reach its operating point there (none on case_01)
    _demo(page, f"{demo_app_url}/", "Radiograph case", "case_04")
    expect(page.get_by_text("Case call:")).to_be_visible(timeout=TIMEOUT_MS)
    expander = page.locator('[data-testid="stExpander"]', has_text="General fracture localiser")
    expander.locator("summary").click()
    expander.get_by_text("Run the general fracture localiser on this image").click()
    # the box's Grad-CAM is computed when a box is picked
    # the picker is a combobox; its "Pick a box…" prompt is the input's placeholder, not text
    expander.locator('[data-testid="stSelectbox"]', has_text="Explain box").click()
    page.keyboard.type("1 ")  # as in _demo: the list opens on typing, filtered to box 1
    page.get_by_role("option", name=re.compile(r"^1 ")).first.click()
    expect(expander.get_by_text("Grad-CAM for box")).to_be_visible(timeout=TIMEOUT_MS)
    expect(expander.locator("img").nth(1)).to_be_visible(timeout=TIMEOUT_MS)
    assert _shot(page, "radiograph_localiser", 1000, expander).stat().st_size > 10_000


def test_screenshot_radiograph_real(page: Page, demo_app_url: str) -> None:
    # a fractured ankle without implants from FracAtlas' validation split (no model trained
    # on it), uploaded
    image = REPO / "demo_cases" / "fracatlas" / "images" / "IMG0004320.jpg"
    page.goto(f"{demo_app_url}/")
    expect(page.get_by_role("heading", name="Radiograph case")).to_be_visible(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        files=[{"name": image.name, "mimeType": "image/jpeg", "buffer": image.read_bytes()}]
    )
    expect(page.get_by_text("Image score:").first).to_be_visible(timeout=TIMEOUT_MS)
    # the general localiser's picker appears only when switched on: this one is the finding's
    page.locator('[data-testid="stSelectbox"]', has_text="Explain box").first.click()
    page.keyboard.type("1 ")
    page.get_by_role("option", name=re.compile(r"^1 ")).first.click()
    expect(page.get_by_text("Grad-CAM for box").first).to_be_visible(timeout=TIMEOUT_MS)
    top = page.get_by_text("Lower-limb fracture finding").first
    assert _shot(page, "radiograph_real", 1000, top).stat().st_size > 10_000


def _nav(page: Page, url: str, link: str) -> None:
    """Open ``link`` from the app's sidebar, so the page runs inside app.py's navigation."""
    page.goto(f"{url}/")
    expect(page.get_by_role("heading", name="Radiograph case")).to_be_visible(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stSidebarNav"]').get_by_text(link, exact=True).click()


def test_screenshot_library(page: Page, demo_app_url: str) -> None:
    _nav(page, demo_app_url, "Teaching library")
    expect(page.get_by_role("heading", name="Teaching library")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_text("Synthetic phantoms (LMAF vs SFO)").click()
    expect(page.get_by_text(re.compile(r"^\d+ of \d+ cases$"))).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible(timeout=TIMEOUT_MS)
    assert _shot(page, "library", 1000).stat().st_size > 10_000


def test_screenshot_quiz(page: Page, demo_app_url: str) -> None:
    _nav(page, demo_app_url, "Quiz")
    expect(page.get_by_role("heading", name="Quiz")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_text("Synthetic phantoms (LMAF vs SFO)").click()
    expect(page.get_by_text("Every case is a synthetic phantom.")).to_be_visible()
    page.get_by_role("button", name="Start the quiz").click()
    expect(page.get_by_text(re.compile(r"Case 1 of \d+"))).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible(timeout=TIMEOUT_MS)
    assert _shot(page, "quiz", 1000).stat().st_size > 10_000


def test_screenshot_reader_study(page: Page, demo_app_url: str) -> None:
    _nav(page, demo_app_url, "Reader study")
    expect(page.get_by_role("heading", name="Reader study")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name="Join or resume")).to_be_visible(timeout=TIMEOUT_MS)
    assert _shot(page, "reader_study", 800).stat().st_size > 10_000


def test_screenshot_study_owner(page: Page, demo_app_url: str) -> None:
    _nav(page, demo_app_url, "Study owner")
    expect(page.get_by_role("heading", name="Study owner")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("Rating scale")).to_be_visible(timeout=TIMEOUT_MS)
    assert _shot(page, "study_owner", 1000).stat().st_size > 10_000


def test_screenshot_library_real(page: Page, demo_app_url: str) -> None:
    _nav(page, demo_app_url, "Teaching library")
    expect(page.get_by_text(re.compile(r"\d+ of 64 real cases"))).to_be_visible(timeout=TIMEOUT_MS)
    image = page.locator('[data-testid="stImage"] img').first
    expect(image).to_be_visible(timeout=TIMEOUT_MS)
    plain = image.get_attribute("src") or ""
    page.get_by_text("Show the truth (boxes and masks)").first.click()
    # the first picture is there before the click: wait for the one with the truth drawn
    expect(image).not_to_have_attribute("src", plain, timeout=TIMEOUT_MS)
    top = page.get_by_text(re.compile(r"\d+ of 64 real cases"))
    assert _shot(page, "library_real", 1000, top).stat().st_size > 10_000


def test_screenshot_quiz_real_reveal(page: Page, demo_app_url: str) -> None:
    import base64
    import json
    from urllib.parse import parse_qs, urlparse

    from ankle_core.teaching import real_cases
    from ui.teaching_real import REAL_ROOT

    cases = {c.image_id: c for c in real_cases(REAL_ROOT)}
    _nav(page, demo_app_url, "Quiz")
    page.get_by_role("button", name="Start the quiz").click()
    expect(page.get_by_text("Case 1 of 5")).to_be_visible(timeout=TIMEOUT_MS)
    for _ in range(5):  # show a fractured case: skip the normal ones
        token = parse_qs(urlparse(page.url).query)["rq"][0]
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        case = cases[doc["c"][len(doc["a"])]]
        if case.fractured:
            break
        page.get_by_text("no fracture", exact=True).click()
        page.get_by_role("button", name="Commit my answer").click()
        page.get_by_role("button", name="Next case").click()
        expect(page.get_by_text(f"Case {len(doc['a']) + 2} of 5")).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_role("button", name="Commit my answer")).to_be_visible()
        expect(page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first).to_be_visible()
    x0, y0, x1, y1 = case.fractures[0].box
    area = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first
    expect(area).to_be_visible(timeout=TIMEOUT_MS)
    clicked = page.get_by_text(re.compile(r"Your click: x = \d+"))
    for _ in range(4):
        box = area.bounding_box()
        assert box is not None
        page.mouse.click(
            box["x"] + (x0 + x1) / 2 / case.width * box["width"],
            box["y"] + (y0 + y1) / 2 / case.height * box["height"],
        )
        try:
            expect(clicked).to_be_visible(timeout=20_000)
            break
        except AssertionError:
            continue
    page.get_by_text("fracture", exact=True).click()
    page.get_by_role("button", name="Commit my answer").click()
    expect(page.get_by_text(re.compile("this image shows"))).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_text("Show the AI's Grad-CAM").click()
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible(timeout=TIMEOUT_MS)
    top = page.get_by_text(re.compile(r"Case \d of 5"))
    assert _shot(page, "quiz_real_reveal", 1000, top).stat().st_size > 10_000


def test_screenshot_cohort_real(page: Page, demo_app_url: str) -> None:
    page.goto(f"{demo_app_url}/cohort")
    expect(page.get_by_role("heading", name="Cohort performance")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_text("Run a model on the FracAtlas validation cohort").click()
    expect(page.get_by_text("Real-image models")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Run").click()
    legend = page.locator('[data-testid="stPlotlyChart"] .legendtext', has_text="AUC")
    expect(legend.first).to_be_visible(timeout=900_000)  # first run scores ~300 images
    top = page.locator('[data-testid="stHorizontalBlock"]', has_text="Truth column").first
    assert _shot(page, "cohort_real", 1000, top).stat().st_size > 10_000
