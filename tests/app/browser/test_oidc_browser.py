"""Sign-in end to end: a real OpenID Connect provider, ``streamlit run app.py`` and Chromium.

The provider is ``oidc-provider-mock`` on 127.0.0.1 (a real OIDC provider for tests: discovery,
authorization code flow, signed ID tokens). Ann is predefined with a ``roles`` claim
(researcher); Bob is typed on the provider's page and gets his role from ``ANKLE_ROLE_MAP``
(clinician). The app runs from a temporary folder whose ``.streamlit/secrets.toml`` holds the
``[auth]`` section, exactly as a hospital would configure it.

Checked: each user sees only the pages their role opens; Ann's case history is hers (Bob sees
none of it) and is still there when she signs in again in a new browser session.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.app import fixtures
from tests.app.browser.conftest import REPO, TIMEOUT_MS
from ui.serve import free_port, running_dashboard, running_service

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANN = {"sub": "ann", "email": "ann@hospital.example", "name": "Dr Ann", "roles": ["researcher"]}


@pytest.fixture(scope="module")
def oidc_provider(artifacts_dir: Path) -> Iterator[str]:
    """``oidc-provider-mock`` on 127.0.0.1; yields its issuer URL."""
    pytest.importorskip("oidc_provider_mock")
    port = free_port()
    cmd = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--user-claims", json.dumps(ANN)]
    url = f"http://127.0.0.1:{port}"
    with running_service(
        cmd,
        health_url=f"{url}/.well-known/openid-configuration",
        log_path=artifacts_dir / "oidc-provider.log",
        what="the provider",
    ):
        yield url


@pytest.fixture(scope="module")
def signed_in_app(
    oidc_provider: str, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path
) -> Iterator[str]:
    """The app with ``[auth]`` configured against the provider; yields its base URL."""
    tmp = tmp_path_factory.mktemp("oidc-app")
    models = fixtures.make_tiny_models(tmp / "tiny-models")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (tmp / ".streamlit").mkdir()
    (tmp / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "{url}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        'client_id = "ankle-workbench"\n'
        f'client_secret = "{secrets.token_urlsafe(16)}"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n'
    )
    env = dict(os.environ)
    env.update(
        ANKLE_MODELS_DIR=str(models),
        ANKLE_DATABASE_URL=f"sqlite:///{tmp / 'cases.sqlite'}",
        ANKLE_DEVICE="cpu",
        ANKLE_ROLE_MAP="bob=clinician",
        OMP_NUM_THREADS="1",
    )
    # cwd holds .streamlit/secrets.toml: the app reads [auth] from there.
    log_path = artifacts_dir / "streamlit-oidc-server.log"
    with running_dashboard(REPO / "app.py", log_path=log_path, cwd=tmp, env=env, port=port):
        yield url


def _sign_in(page: Page, app: str, who: str) -> None:
    page.goto(f"{app}/")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Authorize Client")).to_be_visible(timeout=TIMEOUT_MS)
    if who == "ann":  # predefined on the provider, with her roles claim
        page.locator('button[name="sub"][value="ann"]').click()
    else:
        page.locator('input[name="sub"]').fill(who)
        page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=TIMEOUT_MS)


def test_two_users_sign_in_with_their_own_roles_and_history(
    browser,  # type: ignore[no-untyped-def]
    signed_in_app: str,
    artifacts_dir: Path,
) -> None:
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(3)]
    try:
        ann, bob, ann_again = (ctx.new_page() for ctx in contexts)
        for pg in (ann, bob, ann_again):
            pg.set_default_timeout(TIMEOUT_MS)

        ann.goto(f"{signed_in_app}/")
        expect(ann.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)
        expect(ann.get_by_role("heading", name="Radiograph case")).to_have_count(0)

        _sign_in(ann, signed_in_app, "ann")
        sidebar = ann.locator('[data-testid="stSidebar"]')
        expect(sidebar.get_by_text("Dr Ann")).to_be_visible()
        expect(sidebar.get_by_text("Cohort performance")).to_be_visible()  # researcher
        expect(sidebar.get_by_text("PACS settings")).to_have_count(0)  # not an admin
        expect(ann.get_by_role("heading", name="Radiograph case")).to_be_visible()
        ann.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
            files=[
                {
                    "name": "phantom.dcm",
                    "mimeType": "application/dicom",
                    "buffer": fixtures.radiograph_dicom(size=512),
                }
            ]
        )
        expect(ann.get_by_text("Case call:")).to_be_visible(timeout=TIMEOUT_MS)
        expect(sidebar.get_by_text("1 case(s) in your history")).to_be_visible()

        _sign_in(bob, signed_in_app, "bob")
        bob_bar = bob.locator('[data-testid="stSidebar"]')
        expect(bob_bar.get_by_text(re.compile(r"Signed in as .*bob.*clinician"))).to_be_visible()
        expect(bob_bar.get_by_text("Radiograph case")).to_be_visible()
        expect(bob_bar.get_by_text("Cohort performance")).to_have_count(0)  # clinician only
        expect(bob_bar.get_by_text("Study owner")).to_have_count(0)
        expect(bob_bar.get_by_text("No case analysed in your history yet.")).to_be_visible()
        bob.goto(f"{signed_in_app}/cohort")  # a deep link to a page his role does not open
        expect(bob.get_by_role("heading", name="Cohort performance")).to_have_count(0)

        _sign_in(ann_again, signed_in_app, "ann")  # a new browser session: her history is kept
        again_bar = ann_again.locator('[data-testid="stSidebar"]')
        expect(again_bar.get_by_text("1 case(s) in your history")).to_be_visible()
        expect(again_bar.locator(".st-key-case_history li")).to_have_count(1)
        for name, pg in zip(("ann", "bob", "ann_again"), (ann, bob, ann_again), strict=True):
            pg.screenshot(path=str(artifacts_dir / f"oidc_{name}.png"), full_page=True)
    finally:
        for ctx in contexts:
            ctx.close()
