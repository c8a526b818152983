"""PACS settings (admin): what the server is configured with, and a connection test."""

from __future__ import annotations

import streamlit as st

from ui import pacs_panel, resources
from ui.auth import require_role
from ui.shell import ensure_app_shell

ensure_app_shell()
require_role("pacs_settings")
st.title("PACS settings")
st.caption(
    "The PACS address, credentials and CA bundle belong to the server: they are set in its "
    "environment (ANKLE_PACS_URL, ANKLE_PACS_USER, ANKLE_PACS_PASSWORD or ANKLE_PACS_TOKEN, "
    "ANKLE_PACS_CA_BUNDLE) and no page can change where credentials are sent. The password "
    "and token are never shown."
)
pacs_panel.render_pacs_settings(resources.settings())
