"""Make every page run inside ``app.py``'s navigation, even on a deep link.

Streamlit 1.67 decides once per process, before ``app.py`` has run, whether a ``pages/``
folder means the legacy multipage mode. If the very first request after a server start is
a deep link (``/ct_volume``), the page runs on its own: no page config, no shared sidebar,
and a navigation made of file names, until some run of ``app.py`` calls ``st.navigation``.
:func:`ensure_app_shell` (first line of each page) notices that case once and reruns
through ``app.py``, which then opens the requested page.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

__all__ = ["app_shell", "ensure_app_shell"]

logger = logging.getLogger(__name__)

# Set while app.py runs the selected page, in that session's script thread.
_shell = threading.local()


@contextmanager
def app_shell() -> Iterator[None]:
    """Mark, for this script thread, that the page runs inside ``app.py``."""
    _shell.active = True
    try:
        yield
    finally:
        _shell.active = False


def ensure_app_shell() -> None:
    """Rerun through ``app.py`` when Streamlit started this page on its own (legacy mode).

    A page run from ``app.py`` (inside :func:`app_shell`) is left alone, whatever
    Streamlit's legacy flag says: rerunning it would drop the click that started the run.
    """
    if getattr(_shell, "active", False):
        return
    if PagesManager.uses_pages_directory:
        logger.info("deep link in legacy pages mode: rerunning through app.py")
        PagesManager.uses_pages_directory = False
        st.rerun()
