"""The ankle fracture-AI workbench: page config, navigation, shared sidebar.

Run with ``streamlit run app.py``. Settings come from the environment (``ANKLE_*``, see
``ankle_core.config``) and are read once per process.
"""

from __future__ import annotations

import streamlit as st

from ui import history, resources, shell, widgets

st.set_page_config(
    page_title="Ankle fracture-AI workbench",
    page_icon=":material/orthopedics:",
    layout="wide",
    initial_sidebar_state="expanded",
)

settings = resources.settings()
store = resources.case_store(settings.database_url)

page = st.navigation(
    {
        "Cases": [
            st.Page(
                "pages/radiograph.py",
                title="Radiograph case",
                icon=":material/radiology:",
                default=True,
            ),
            st.Page("pages/ct_volume.py", title="CT case", icon=":material/view_in_ar:"),
        ],
        "Research": [
            st.Page("pages/cohort.py", title="Cohort performance", icon=":material/monitoring:"),
            st.Page("pages/models.py", title="Models", icon=":material/inventory_2:"),
        ],
        "Teaching & studies": [
            st.Page("pages/library.py", title="Teaching library", icon=":material/local_library:"),
            st.Page("pages/quiz.py", title="Quiz", icon=":material/quiz:"),
            st.Page("pages/reader_study.py", title="Reader study", icon=":material/visibility:"),
            st.Page("pages/study_owner.py", title="Study owner", icon=":material/key:"),
        ],
    }
)

with st.sidebar:
    widgets.disclaimer()
    history_slot = st.container()

try:
    with shell.app_shell():
        page.run()
finally:  # after the page, so a case it just stored is listed at once
    history.render_history(history_slot, store)
