"""Sign-in and roles in the dashboard: one helper per question, the rules in ``ankle_core.access``.

With an ``[auth]`` section in ``.streamlit/secrets.toml`` users sign in through OpenID Connect
(Streamlit's ``st.login``, Authlib underneath) and their roles come from a claim or
``ANKLE_ROLE_MAP``. Without it the app runs as one local user holding every role, and only
while it listens on 127.0.0.1 and holds no PACS credentials (:func:`enforce_deployment`).

Every page starts with ``auth.require_role("<page stem>")``; ``app.py`` lists only the pages
the user may open. Tests replace :func:`oidc_claims` (AppTest cannot sign in) and give
``AppTest.secrets["auth"]`` a value.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import streamlit as st

from ankle_core.access import User, deployment_problems, local_user, may_open, user_from_claims
from ankle_core.config import Settings
from ankle_core.errors import InvalidInputError

__all__ = [
    "auth_configured",
    "current_user",
    "enforce_deployment",
    "oidc_claims",
    "render_sidebar",
    "require_role",
    "require_sign_in",
]

logger = logging.getLogger(__name__)


def auth_configured() -> bool:
    """Whether sign-in is configured (an ``[auth]`` section in Streamlit's secrets)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml at all: Streamlit raises its own not-found error
        return False


def oidc_claims() -> Mapping[str, Any] | None:
    """The signed-in user's ID-token claims, or None when nobody is signed in (test seam)."""
    if not st.user.get("is_logged_in"):
        return None
    return st.user.to_dict()


def current_user(settings: Settings) -> User | None:
    """The user of this session: the local user, a signed-in user, or None (not signed in)."""
    if not auth_configured():
        return local_user()
    claims = oidc_claims()
    if claims is None:
        return None
    try:
        return user_from_claims(claims, settings.roles)
    except InvalidInputError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def enforce_deployment(settings: Settings) -> None:
    """Refuse to start (``st.error`` + ``st.stop``, reason logged) when unsafe without sign-in."""
    problems = deployment_problems(
        auth_configured=auth_configured(),
        server_address=st.get_option("server.address"),
        pacs_credentials=settings.pacs_credentials,
    )
    if not problems:
        return
    for problem in problems:
        logger.error("refusing to start: %s", problem)
        st.error(problem, icon=":material/gpp_bad:")
    st.caption("See docs/security.md for how to configure sign-in.")
    st.stop()


def require_sign_in(settings: Settings) -> User:
    """The session's user; shows the sign-in button and stops the run while nobody is signed in."""
    user = current_user(settings)
    if user is not None:
        return user
    st.title("Ankle fracture-AI workbench")
    st.info("Sign in with your hospital account to continue.", icon=":material/login:")
    st.button("Sign in", type="primary", on_click=st.login, key="auth_login")
    st.stop()


def require_role(page: str) -> User:
    """First call of every page: the user, or a clear refusal (and the run stops).

    Args:
        page: the page's file stem under ``pages/`` (a key of ``ankle_core.access.PAGE_ROLES``).

    Returns:
        The user, who may open the page.
    """
    from ui import resources

    user = current_user(resources.settings())
    if user is None:
        st.warning("Sign in to open this page.", icon=":material/login:")
        st.stop()
    if not may_open(user, page):
        logger.info("refused page %s to a user without its role", page)
        st.error(
            "Your role does not open this page. Ask your administrator for access.",
            icon=":material/block:",
        )
        st.stop()
    return user


def render_sidebar(user: User) -> None:
    """Who is signed in (and a sign-out button), or that this is the local single-user mode."""
    if not user.signed_in:
        st.caption(
            ":material/lock: Local mode: one local user, no sign-in. The app listens on "
            "127.0.0.1 only, so only this computer can open it."
        )
        return
    roles = ", ".join(sorted(user.roles)) or "no role"
    st.caption(f":material/account_circle: Signed in as **{user.display_name}** ({roles})")
    st.button("Sign out", on_click=st.logout, key="auth_logout")
