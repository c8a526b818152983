"""A learner runs through five real (FracAtlas) quiz items in a real browser, clicking on each."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from ankle_core.teaching import real_cases
from tests.app.browser.conftest import TIMEOUT_MS
from ui.teaching_real import REAL_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _quiz_case_ids(page: Page) -> list[str]:
    """The quiz's image ids, read from the ``?rq=`` token in the page URL."""
    token = parse_qs(urlparse(page.url).query)["rq"][0]
    doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return [str(i) for i in doc["c"]]


def _click_image(page: Page, x: float, y: float, width: int, height: int) -> None:
    """Click image pixel (x, y) of the quiz chart (plot area = the image's extent)."""
    area = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first
    expect(area).to_be_visible(timeout=TIMEOUT_MS)
    box = area.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x / width * box["width"], box["y"] + y / height * box["height"])


def test_learner_clicks_through_five_real_items_to_the_results(page: Page, app_url: str) -> None:
    cases = {c.image_id: c for c in real_cases(REAL_ROOT)}
    page.goto(f"{app_url}/quiz")
    expect(page.get_by_role("heading", name=re.compile("Quiz"))).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Start the quiz").click()
    expect(page.get_by_text("Case 1 of 5")).to_be_visible(timeout=TIMEOUT_MS)
    ids = _quiz_case_ids(page)
    assert len(ids) == 5
    n_fractured = 0
    for i, image_id in enumerate(ids):
        case = cases[image_id]
        expect(page.get_by_text(f"Case {i + 1} of 5")).to_be_visible(timeout=TIMEOUT_MS)
        if case.fractured:
            n_fractured += 1
            x0, y0, x1, y1 = case.fractures[0].box
            target = ((x0 + x1) / 2, (y0 + y1) / 2)
        else:
            target = (case.width / 2, case.height / 2)
        clicked = page.get_by_text(re.compile(r"Your click: x = \d+"))
        for _ in range(4):  # a click that lands while the page still reruns is dropped
            _click_image(page, *target, case.width, case.height)
            try:
                expect(clicked).to_be_visible(timeout=20_000)
                break
            except AssertionError:
                continue
        expect(clicked).to_be_visible(timeout=TIMEOUT_MS)
        call = "fracture" if case.fractured else "no fracture"
        page.get_by_text(call, exact=True).click()
        page.get_by_role("button", name="Commit my answer").click()
        expect(page.get_by_text(re.compile("this image shows"))).to_be_visible(timeout=TIMEOUT_MS)
        if case.fractured:
            expect(page.get_by_text(re.compile("inside"))).to_be_visible()
        expect(page.get_by_text(re.compile("FracAtlas")).first).to_be_visible()
        name = "Next case" if i < 4 else "See my results"
        page.get_by_role("button", name=name).click()
    expect(page.get_by_text("Your results")).to_be_visible(timeout=TIMEOUT_MS)
    table = page.locator('[data-testid="stDataFrame"]').first
    expect(table).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name=re.compile("Results \\(CSV\\)"))).to_be_visible()
    expect(page.get_by_text("Running score")).to_be_visible()
    expect(page.get_by_text("5 / 5")).to_be_visible()
