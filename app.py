"""The ankle fracture-AI workbench: page config, sign-in, navigation, shared sidebar.

Run with ``streamlit run app.py``. Settings come from the environment (``ANKLE_*``, see
``ankle_core.config``) and are read once per process. Without an ``[auth]`` section in
``.streamlit/secrets.toml`` the app runs as one local user on 127.0.0.1 only; with it, users
sign in (OpenID Connect) and see only the pages their roles open (``docs/security.md``).
The CPU threads are chosen first, once per process
(:func:`ankle_core.device.configure_threads_once`), before any module imports torch.
"""

from __future__ import annotations

from ankle_core.device import configure_threads_once

# before anything imports torch: passive OpenMP waits, chosen threads; chosen once per server
# process (Streamlit runs this script again on every interaction)
configure_threads_once()

from pathlib import Path  # noqa: E402

import streamlit as st  # noqa: E402

from ankle_core.access import may_open  # noqa: E402
from ui import auth, history, resources, shell, widgets  # noqa: E402

st.set_page_config(
    page_title="Ankle fracture-AI workbench",
    # a local file: a material-icon favicon would be fetched from fonts.gstatic.com
    page_icon=str(Path(__file__).parent / "ui" / "assets" / "favicon.png"),
    layout="wide",
    initial_sidebar_state="expanded",
)

settings = resources.settings()
auth.enforce_deployment(settings)
user = auth.require_sign_in(settings)
store = resources.case_store(settings.database_url)

SECTIONS = {
    "Cases": [
        ("radiograph", "Radiograph case", ":material/radiology:"),
        ("ct_volume", "CT case", ":material/view_in_ar:"),
    ],
    "Research": [
        ("cohort", "Cohort performance", ":material/monitoring:"),
        ("models", "Models", ":material/inventory_2:"),
    ],
    "Teaching & studies": [
        ("library", "Teaching library", ":material/local_library:"),
        ("quiz", "Quiz", ":material/quiz:"),
        ("reader_study", "Reader study", ":material/visibility:"),
        ("study_owner", "Study owner", ":material/key:"),
    ],
    "Administration": [
        ("pacs_settings", "PACS settings", ":material/settings_ethernet:"),
    ],
}
navigation = {
    section: [
        st.Page(f"pages/{stem}.py", title=title, icon=icon)
        for stem, title, icon in entries
        if may_open(user, stem)  # only the pages this user's roles open
    ]
    for section, entries in SECTIONS.items()
}
navigation = {section: pages for section, pages in navigation.items() if pages}
if not navigation:
    st.error("Your account has no role in this workbench yet. Ask your administrator.")
    auth.render_sidebar(user)
    st.stop()
page = st.navigation(navigation)

with st.sidebar:
    auth.render_sidebar(user)
    widgets.disclaimer()
    history_slot = st.container()

try:
    with shell.app_shell():
        page.run()
finally:  # after the page, so a case it just stored is listed at once
    if user.has_any(("clinician", "researcher")):
        history.render_history(history_slot, store)
if settings.warm_models:  # after the first page has drawn: load the default models, once
    resources.warm_models(str(settings.models_dir), settings.device)
