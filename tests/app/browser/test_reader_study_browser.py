"""A reader study end to end in Chromium against ``streamlit run app.py``.

One flow, to spare the shared CPU: the owner uploads a case set with one unreadable file
(named on the page; confirmed), a wrong key is refused, the owner issues one invite link per
reader, reader A (through her link) reads the 4-case study
unaided and aided with a reload halfway (resumed; nothing lost or duplicated), reader B in
another browser context sees none of A's answers and reads too, and the owner's page shows
the MRMC result that the downloaded CSV gives through ``stats.mrmc_or``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from ankle_core.stats import mrmc_or
from tests.app import fixtures
from tests.app.browser.conftest import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KEY = "browser-owner-key"
LABELS = {"c1.png": "lmaf", "c2.png": "sfo", "c3.png": "lmaf", "c4.png": "none"}
# Ratings in plan order (the reader does not know which case is shown: blinded).
RATINGS = {"Reader A": [4, 5, 2, 1, 3, 4, 2, 5], "Reader B": [2, 3, 5, 4, 1, 2, 4, 5]}
SCALE = {
    1: "1 · definitely not",
    2: "2 · probably not",
    3: "3 · uncertain",
    4: "4 · probably an",
    5: "5 · definitely an",
}


def _context(browser: Browser) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _upload_set(page: Page) -> None:
    files = [
        {
            "name": name,
            "mimeType": "image/png",
            "buffer": fixtures.radiograph_png(seed=i, kind=label, size=256),
        }
        for i, (name, label) in enumerate(LABELS.items(), start=1)
    ]
    files.append(
        {"name": "broken.dcm", "mimeType": "application/dicom", "buffer": fixtures.corrupt_dicom()}
    )
    labels = "file,label\n" + "".join(f"{n},{lab}\n" for n, lab in LABELS.items())
    labels += "broken.dcm,none\n"
    inputs = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    inputs.nth(0).set_input_files(files=files)
    inputs.nth(1).set_input_files(
        files=[{"name": "labels.csv", "mimeType": "text/csv", "buffer": labels.encode()}]
    )


def _create_study(page: Page, url: str) -> str:
    page.goto(f"{url}/study_owner")
    expect(page.get_by_role("heading", name=re.compile("Study owner"))).to_be_visible(
        timeout=TIMEOUT_MS
    )
    page.get_by_text("Upload a set").click()
    _upload_set(page)
    expect(page.get_by_text("broken.dcm", exact=False).first).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("1 file(s) cannot be used")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_text("Create the study from the 4 readable case(s) only").click()
    page.get_by_label("Study key (protects the results; at least 12 characters)").fill(KEY)
    page.get_by_role("button", name=re.compile(r"Create the study \(4 cases\)")).click()
    created = page.get_by_text(re.compile("Readers join with the code"))
    expect(created).to_be_visible(timeout=TIMEOUT_MS)
    match = re.search(r"code ([A-Z0-9]{8})", created.inner_text())
    assert match, created.inner_text()
    return match.group(1)


def _open_results(page: Page, code: str, key: str) -> None:
    page.get_by_role("tab", name="Results").click()
    page.get_by_label("Study code").fill(code)
    page.get_by_label("Study key", exact=True).fill(key)
    page.get_by_role("button", name="Open the results").click()


def _idle(page: Page) -> None:
    """Wait until Streamlit finished the current run (no "Running..." status)."""
    expect(page.get_by_role("img", name="Running...")).to_have_count(0, timeout=TIMEOUT_MS)


def _rate(page: Page, done: int, rating: int) -> None:
    # The expander is the page's last element: once it counts `done`, the step's form is new.
    expect(page.get_by_text(f"Your own answers so far ({done})")).to_be_visible(timeout=TIMEOUT_MS)
    _idle(page)
    # While a rerun swaps one step's layout for the next (an unaided image for the aided
    # analysis), the previous step's faded form can still be in the page for a moment: act
    # only once a single rating form is left.
    option = page.get_by_text(SCALE[rating])
    submit = page.get_by_role("button", name="Submit this rating")
    expect(option).to_have_count(1, timeout=TIMEOUT_MS)
    expect(submit).to_have_count(1, timeout=TIMEOUT_MS)
    option.click()
    expect(page.get_by_role("radio", checked=True)).to_have_count(1, timeout=TIMEOUT_MS)
    submit.click()
    expect(page.get_by_text(f"Your own answers so far ({done + 1})")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    expect(page.get_by_text(f"{done + 1} of 8 readings stored")).to_be_visible(timeout=TIMEOUT_MS)


def _read(page: Page, name: str, start: int, stop: int) -> None:
    for i in range(start, stop):
        aided = page.get_by_text(re.compile("Aided: the AI's output is shown"))
        unaided = page.get_by_text(re.compile("Unaided: read on your own"))
        expect(aided.or_(unaided)).to_be_visible(timeout=TIMEOUT_MS)
        if aided.is_visible():  # the AI's call, boxes and saliency, as on the radiograph page
            expect(page.get_by_text("AI case call").first).to_be_visible(timeout=TIMEOUT_MS)
        else:
            expect(page.get_by_text("AI case call")).to_have_count(0, timeout=TIMEOUT_MS)
        _rate(page, i, RATINGS[name][i])


def _invite(owner: Page, label: str, known: list[str]) -> str:
    """The owner's invite link for a new reader labelled ``label`` (results already open)."""
    owner.get_by_label("Reader label (optional, e.g. R1)").fill(label)
    owner.get_by_role("button", name="Create an invite link").click()
    expect(owner.get_by_text(f"Invite for {label}")).to_be_visible(timeout=TIMEOUT_MS)
    code = owner.locator("code", has_text="invite=").last
    for old in known:  # the new link replaces the previous one after its heading: wait for it
        expect(code).not_to_have_text(old, timeout=TIMEOUT_MS)
    link = code.inner_text().strip()
    assert "/reader_study?invite=" in link, link
    known.append(link)
    return link


def _join(page: Page, link: str) -> None:
    page.goto(link)
    expect(page.get_by_text(re.compile(r"\d of 8 readings stored"))).to_be_visible(
        timeout=TIMEOUT_MS
    )


def test_reader_study_end_to_end(
    browser: Browser,
    app_url: str,
    artifacts_dir: Path,
) -> None:
    owner_ctx, a_ctx, b_ctx = _context(browser), _context(browser), _context(browser)
    owner, reader_a, reader_b = owner_ctx.new_page(), a_ctx.new_page(), b_ctx.new_page()
    try:
        code = _create_study(owner, app_url)
        _open_results(owner, code, "not-the-key")
        expect(owner.get_by_text("This study code and key do not match.")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        expect(owner.get_by_text(re.compile("Obuchowski"))).to_have_count(0, timeout=TIMEOUT_MS)

        _open_results(owner, code, KEY)
        expect(owner.get_by_role("heading", name="Readers")).to_be_visible(timeout=TIMEOUT_MS)
        known: list[str] = []
        links = {name: _invite(owner, name, known) for name in RATINGS}
        _join(reader_a, links["Reader A"])
        _read(reader_a, "Reader A", 0, 4)
        reader_a.reload()  # closing the tab halfway: the URL carries the invite token
        expect(reader_a.get_by_text("4 of 8 readings stored")).to_be_visible(timeout=TIMEOUT_MS)
        _read(reader_a, "Reader A", 4, 8)
        expect(reader_a.get_by_text("All your readings are stored. Thank you!")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        reader_a.screenshot(path=str(artifacts_dir / "reader_study_done.png"), full_page=True)

        assert links["Reader A"] != links["Reader B"]
        _join(reader_b, links["Reader B"])
        expect(reader_b.get_by_text("Reader B", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        expect(reader_b.get_by_text("0 of 8 readings stored")).to_be_visible(timeout=TIMEOUT_MS)
        expect(reader_b.get_by_text("Your own answers so far (0)")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        _read(reader_b, "Reader B", 0, 8)

        _open_results(owner, code, KEY)
        headline = owner.get_by_text(re.compile("AUC aided − unaided ="))
        expect(headline).to_be_visible(timeout=TIMEOUT_MS)
        owner.screenshot(path=str(artifacts_dir / "study_owner_results.png"), full_page=True)
        with owner.expect_download() as download:
            owner.get_by_role("button", name=re.compile("Long-format CSV")).click()
        table = pd.read_csv(io.BytesIO(Path(download.value.path()).read_bytes()))
        assert len(table) == 16 and not table.duplicated(["case", "reader", "condition"]).any()
        for name, ratings in RATINGS.items():  # stored as given, in the order given
            assert sorted(table[table["reader"] == name]["score"]) == sorted(ratings)
        res = mrmc_or(table, "jackknife")
        d = res.difference
        text = headline.inner_text()
        assert f"{d.difference:+.4f}" in text and f"{d.ci_low:.4f} to {d.ci_high:.4f}" in text
        assert f"p = {res.rrrc.p_value:.4f}" in text
    finally:
        for ctx in (owner_ctx, a_ctx, b_ctx):
            ctx.close()
