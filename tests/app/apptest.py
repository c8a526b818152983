"""Open a dashboard page in Streamlit's ``AppTest``, the way a user reaches it.

Every page is opened through ``app.py`` (its shell: navigation, shared sidebar, disclaimer)
and then switched to, so a page test also covers the app's start-up.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

#: The dashboard's entry script (absolute, so any test folder can use it).
APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_app(timeout: float = 180) -> AppTest:
    """Run ``app.py`` once (the default page) and check that it raised nothing."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(page: str, timeout: float = 180) -> AppTest:
    """Start the app, switch to ``page`` (e.g. ``"pages/ct_volume.py"``), check no exception."""
    at = open_app(timeout)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at
