"""Sign-in and roles in the app (AppTest): navigation, page checks, start-up refusal, PACS.

AppTest cannot sign in, so these tests configure ``[auth]`` through ``AppTest.secrets`` and
replace ``ui.auth.oidc_claims`` (the one seam) with the claims an identity provider would
send. The real sign-in runs in Chromium against a real provider in
``tests/app/browser/test_oidc_browser.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

import ui.auth
from tests.app.apptest import APP

PAGES = Path(APP).parent / "pages"
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret",
    "client_id": "workbench",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "http://127.0.0.1:9400/.well-known/openid-configuration",
}


def _signed_in(monkeypatch: pytest.MonkeyPatch, claims: Mapping[str, Any] | None) -> AppTest:
    monkeypatch.setattr(ui.auth, "oidc_claims", lambda: claims)
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["auth"] = AUTH
    return at


def _known_pages(at: AppTest) -> set[str]:
    """The pages ``st.navigation`` registered (none when app.py stopped before it)."""
    stems = {Path(str(i["script_path"])).stem for i in at._registered_pages.values()}
    return set() if "app" in stems else stems  # "app" listed: Streamlit's own pages/ listing


def _texts(at: AppTest) -> str:
    parts = [e.value for e in at.error] + [c.value for c in at.caption]
    parts += [i.value for i in at.info] + [w.value for w in at.warning]
    parts += [c.value for c in at.sidebar.caption] + [t.value for t in at.title]
    return "\n".join(str(p) for p in parts)


def test_local_default_runs_as_one_local_user_on_loopback(app_env: dict[str, str]) -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    assert streamlit.get_option("server.address") == "127.0.0.1"  # .streamlit/config.toml
    assert "Local mode" in _texts(at) and "127.0.0.1 only" in _texts(at)
    assert _known_pages(at) == {p.stem for p in PAGES.glob("*.py")}


def test_nobody_signed_in_sees_only_the_sign_in_button(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _signed_in(monkeypatch, None)
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert _known_pages(at) == set()
    assert [t.value for t in at.title] == ["Ankle fracture-AI workbench"]  # no page ran
    assert "Case history" not in [s.value for s in at.sidebar.subheader]


@pytest.mark.parametrize(
    "roles,pages",
    [
        (["reader"], {"reader_study"}),
        (["clinician"], {"radiograph", "ct_volume", "library", "quiz"}),
        (["admin"], {"pacs_settings"}),
        (
            ["researcher", "admin"],
            {"radiograph", "ct_volume", "library", "quiz", "cohort", "models"}
            | {"reader_study", "study_owner", "pacs_settings"},
        ),
    ],
)
def test_navigation_lists_only_the_pages_the_roles_open(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, roles: list[str], pages: set[str]
) -> None:
    at = _signed_in(monkeypatch, {"sub": "u-1", "name": "Dr U", "roles": roles})
    at.run()
    assert not at.exception, at.exception
    assert _known_pages(at) == pages
    assert "Signed in as **Dr U**" in _texts(at)
    assert any(b.label == "Sign out" for b in at.sidebar.button)


def test_user_without_a_role_is_told_to_ask_for_one(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _signed_in(monkeypatch, {"sub": "u-2", "roles": ["some-other-app-role"]})
    at.run()
    assert not at.exception, at.exception
    assert "no role" in _texts(at)
    assert _known_pages(at) == set()


def _guarded_page(page: str) -> None:
    import streamlit as st

    from ui.auth import require_role

    require_role(page)
    st.markdown("PAGE CONTENT")


@pytest.mark.parametrize(
    "roles,page,opens",
    [
        (["reader"], "cohort", False),
        (["reader"], "radiograph", False),
        (["clinician"], "study_owner", False),
        (["clinician"], "pacs_settings", False),
        (["researcher"], "cohort", True),
        (["admin"], "pacs_settings", True),
    ],
)
def test_each_page_refuses_a_user_without_its_role(
    app_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    roles: list[str],
    page: str,
    opens: bool,
) -> None:
    monkeypatch.setattr(ui.auth, "oidc_claims", lambda: {"sub": "u-3", "roles": roles})
    at = AppTest.from_function(_guarded_page, args=(page,), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown]
    assert ("PAGE CONTENT" in shown) is opens
    assert ("Your role does not open this page" in _texts(at)) is not opens


def test_pacs_credentials_without_sign_in_refuse_to_start(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANKLE_PACS_URL", "https://pacs.hospital.org/dicom-web")
    monkeypatch.setenv("ANKLE_PACS_PASSWORD", "hunter2-secret")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    assert "PACS credentials are configured but nobody signs in" in _texts(at)
    assert "hunter2-secret" not in _texts(at)
    assert _known_pages(at) == set() and not at.title  # no page ran


def test_another_address_without_sign_in_refuses_to_start(
    app_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    before = streamlit.get_option("server.address")
    streamlit.config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_file(APP, default_timeout=180)
        at.run()
    finally:
        streamlit.config.set_option("server.address", before)
    assert not at.exception, at.exception
    assert "listen on 0.0.0.0 without sign-in" in _texts(at)
    assert "refusing to start" in caplog.text
    assert _known_pages(at) == set()


def test_no_page_can_redirect_the_pacs_credentials(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ui.pacs_panel

    configured = "https://pacs.hospital.org/dicom-web"
    monkeypatch.setenv("ANKLE_PACS_URL", configured)
    monkeypatch.setenv("ANKLE_PACS_USER", "clinician")
    monkeypatch.setenv("ANKLE_PACS_PASSWORD", "hunter2-secret")
    reached: list[str] = []

    class _Client:
        def __init__(self, connection: Any) -> None:
            reached.append(connection.url)
            self.connection = connection

        def search_studies(self, **_: Any) -> list[Any]:
            return []

    monkeypatch.setattr(ui.pacs_panel, "PacsClient", _Client)
    at = _signed_in(monkeypatch, {"sub": "u-4", "roles": ["clinician"]})
    at.session_state["rg_url"] = "http://attacker.example/dicom-web"  # the old widget's key
    at.run()
    at.radio(key="rg_source").set_value("PACS").run()
    assert not at.exception, at.exception
    assert not [t for t in at.text_input if t.key in ("rg_url", "rg_user")]
    assert all("address" not in t.label.lower() for t in at.text_input)
    at.button[0].click().run()  # search
    assert reached and set(reached) == {configured}
    assert "pacs.hospital.org" in _texts(at) and "hunter2-secret" not in _texts(at)
