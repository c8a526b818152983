"""In a real browser, with the committed models: a real radiograph and a real CT get no call,
with the reason in words, and the raw score only behind the "show anyway" control."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from ankle_core.realdata.demo import rg3_path, totalseg_ct_path
from tests.app.browser.conftest import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEADLINE = "No call — outside the model's training domain"


def _upload(page: Page, name: str, data: bytes, mime: str) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )


def test_real_radiograph_gets_a_withheld_call_with_its_reason(
    page: Page, demo_app_url: str
) -> None:
    path = rg3_path()
    if path is None:
        pytest.skip("pydicom-data's RG3_UNCR.dcm is not installed")
    page.goto(f"{demo_app_url}/")
    expect(page.get_by_role("heading", name="Radiograph case")).to_be_visible(timeout=TIMEOUT_MS)
    _upload(page, "ankle.dcm", path.read_bytes(), "application/dicom")
    expect(page.get_by_text(HEADLINE)).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text(re.compile("trained on synthetic phantoms only"))).to_be_visible()
    expect(page.get_by_text("out of domain — call withheld").first).to_be_visible()
    expect(page.get_by_text(re.compile("Raw output, out of domain"))).to_have_count(0)
    page.get_by_text(re.compile("Show the raw score anyway")).click()
    expect(page.get_by_text(re.compile("Raw output, out of domain"))).to_be_visible(
        timeout=TIMEOUT_MS
    )


def test_real_ct_gets_a_withheld_call_with_its_reason(page: Page, demo_app_url: str) -> None:
    path = totalseg_ct_path()
    if path is None:
        pytest.skip("the TotalSegmentator example CT is not in shared/data")
    page.goto(f"{demo_app_url}/ct_volume")
    expect(page.get_by_role("heading", name="CT case")).to_be_visible(timeout=TIMEOUT_MS)
    _upload(page, "abdomen.nii.gz", path.read_bytes(), "application/gzip")
    expect(page.get_by_text(HEADLINE)).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text(re.compile("does not look like an ankle CT")).first).to_be_visible()
    expect(page.get_by_text("no fracture", exact=True)).to_have_count(0)
    # the views carry their orientation letters
    axial = page.locator('[data-testid="stPlotlyChart"]').first
    for letter in ("A", "P", "R", "L"):
        expect(
            axial.locator(".annotation-text", has_text=re.compile(f"^{letter}$"))
        ).to_be_visible()
