"""End-to-end checks in a real browser against ``streamlit run app.py``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.app import fixtures
from tests.app.browser.conftest import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BOX_NUMBER = re.compile(r"^\d+$")  # boxes are numbered on the image, named in the table


def _upload(page: Page, name: str, data: bytes, mime: str) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )


def _open(page: Page, url: str, heading: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=re.compile(heading))).to_be_visible(timeout=TIMEOUT_MS)


VIEWER = ".st-key-rg_figure img"  # the radiograph page's picture (ui.viewer.show_radiograph)


def _viewer_image(page: Page) -> str:
    image = page.locator(VIEWER).first
    expect(image).to_be_attached(timeout=TIMEOUT_MS)
    return image.get_attribute("src") or ""


def _analyse_radiograph(page: Page) -> None:
    _upload(page, "phantom.dcm", fixtures.radiograph_dicom(size=512), "application/dicom")
    expect(page.get_by_text("Case call:")).to_be_visible(timeout=TIMEOUT_MS)


# First test of the session: a deep link on a fresh server (see ui/shell.py).
def test_nifti_shows_boxes_in_all_three_views(page: Page, app_url: str) -> None:
    _open(page, f"{app_url}/ct_volume", "CT case")
    _upload(page, "phantom.nii.gz", fixtures.volume_nifti(shape=(48, 96, 96)), "application/gzip")
    expect(page.get_by_text("Fracture probability")).to_be_visible(timeout=TIMEOUT_MS)
    charts = page.locator('[data-testid="stPlotlyChart"]')
    expect(charts).to_have_count(3, timeout=TIMEOUT_MS)
    for i in range(3):
        expect(charts.nth(i).locator(".annotation-text", has_text="#1")).to_be_visible()
    expect(page.get_by_text("Boxes: Grad-CAM, Otsu")).to_be_visible()
    # A deep link on a fresh server still runs inside app.py (shared sidebar, navigation).
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("1 case(s) in this session")).to_be_visible()
    expect(sidebar.get_by_text("Cohort performance")).to_be_visible()


def test_radiograph_dicom_shows_fragments_calls_and_overlay(page: Page, app_url: str) -> None:
    _open(page, f"{app_url}/", "Radiograph case")
    _analyse_radiograph(page)
    expect(page.get_by_text("Detected fragments")).to_be_visible()
    expect(
        page.get_by_text("Research use; demo models trained on synthetic phantoms")
    ).to_be_visible()
    # a view control redraws the picture (the tiny models' Grad-CAM is flat, so the zoom,
    # not the overlay, is what visibly changes it)
    before = _viewer_image(page)
    zoom = page.get_by_role("slider", name="Zoom")
    zoom.focus()
    zoom.press("ArrowRight")
    expect(page.locator(VIEWER).first).not_to_have_attribute("src", before, timeout=TIMEOUT_MS)
    page.get_by_text("Grad-CAM overlay").click()  # the toggle's label: no error either way
    # the interactive viewer: Plotly, with the boxes' numbers as annotations
    page.get_by_text("Pan and scroll-zoom").click()
    labels = page.locator('[data-testid="stPlotlyChart"] .annotation-text')
    expect(labels.first).to_have_text(BOX_NUMBER, timeout=TIMEOUT_MS)
    page.get_by_text("Pan and scroll-zoom").click()
    expect(page.locator(VIEWER).first).to_be_visible(timeout=TIMEOUT_MS)
    button = page.get_by_role("button", name=re.compile("PDF report"))
    expect(button).to_be_visible()
    with page.expect_download(timeout=TIMEOUT_MS) as download:
        button.click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1


def test_corrupt_file_gives_a_message_then_a_good_file_works(page: Page, app_url: str) -> None:
    _open(page, f"{app_url}/", "Radiograph case")
    _upload(page, "broken.dcm", fixtures.corrupt_dicom(), "application/dicom")
    error = page.locator('[data-testid="stAlertContentError"]')
    expect(error).to_be_visible(timeout=TIMEOUT_MS)
    expect(error).to_contain_text("DICOM")
    _analyse_radiograph(page)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)


def test_cohort_page_shows_an_auc(page: Page, app_url: str) -> None:
    _open(page, f"{app_url}/cohort", "Cohort performance")
    page.get_by_label("Cases").fill("10")
    page.get_by_label("Cases").press("Enter")
    page.get_by_role("button", name="Run").click()
    legend = page.locator('[data-testid="stPlotlyChart"] .legendtext', has_text="AUC")
    expect(legend.first).to_be_visible(timeout=TIMEOUT_MS)
    expect(legend.first).to_have_text(re.compile(r"AUC \d\.\d{3}"))


def test_two_sessions_do_not_see_each_others_history(
    browser,
    app_url: str,
    artifacts_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        a, b = (ctx.new_page() for ctx in contexts)
        for pg in (a, b):
            pg.set_default_timeout(TIMEOUT_MS)
            _open(pg, f"{app_url}/", "Radiograph case")
        _analyse_radiograph(a)
        sidebar_a = a.locator('[data-testid="stSidebar"]')
        expect(sidebar_a.get_by_text("1 case(s) in this session")).to_be_visible()
        b.reload()
        _open(b, f"{app_url}/ct_volume", "CT case")
        sidebar_b = b.locator('[data-testid="stSidebar"]')
        expect(sidebar_b.get_by_text("No case analysed in this session yet.")).to_be_visible()
        expect(sidebar_b.locator(".st-key-case_history li")).to_have_count(0)
        expect(sidebar_a.locator(".st-key-case_history li")).to_have_count(1)
        for name, pg in zip(("session_a", "session_b"), (a, b), strict=True):
            pg.screenshot(path=str(artifacts_dir / f"two_sessions_{name}.png"), full_page=True)
    finally:
        for ctx in contexts:
            ctx.close()


def test_clicking_a_box_row_centres_the_views(page: Page, app_url: str) -> None:
    _open(page, f"{app_url}/ct_volume", "CT case")
    _upload(page, "phantom.nii.gz", fixtures.volume_nifti(shape=(48, 96, 96)), "application/gzip")
    expect(page.get_by_text("Fracture probability")).to_be_visible(timeout=TIMEOUT_MS)
    axial = page.locator('input[type="range"][aria-label="Axial"]')
    centre = axial.input_value()
    assert centre != "0"
    axial.focus()
    axial.press("Home")
    expect(axial).to_have_value("0", timeout=TIMEOUT_MS)
    table = page.locator('[data-testid="stDataFrame"]').first
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection marker
    expect(axial).to_have_value(centre, timeout=TIMEOUT_MS)
